// The CRIB checkpoint kfuncs (bpf/include/crib/crib.h): what `crib` programs
// call to read a process being dumped. They serve the state a collector
// gathered while the process is frozen; a KfuncSession makes one process's
// state visible to them for as long as its dump programs run.
#pragma once

#include <string>

#include "base/result.hpp"
#include "btf/btf.hpp"
#include "crib/image/model.hpp"
#include "progs/kfuncs.hpp"

namespace crib::dump {

// The kfunc set's name, registered for the `crib` program type.
inline constexpr const char* kCheckpointKfuncSet = "bpf_crib_checkpoint_kfuncs";

// The set as data, its record and iterator sizes read from `types` (crib's
// own BTF, types_btf.hpp). ENOENT naming a struct `types` lacks; EINVAL when
// a record's size there is not the C++ record's the kfuncs hand out, or an
// iterator cannot hold the kfuncs' state.
Result<progs::KfuncSet> checkpoint_kfunc_set(const btf::Btf& types);

// Registers the set, sized by crib_types_btf(), once per process; later
// calls return the first result.
Result<void> register_checkpoint_kfuncs();

class KfuncSession {
public:
    // EBUSY when a session for the same pid is open.
    static Result<std::unique_ptr<KfuncSession>> open(const image::Process& process);
    ~KfuncSession();
    KfuncSession(const KfuncSession&) = delete;
    KfuncSession& operator=(const KfuncSession&) = delete;

    // The first failure a kfunc met while serving this process (a value too
    // big for its record...): a kfunc cannot return it through the program.
    Result<void> status() const;

    const image::Process& process() const { return m_process; }
    void fail(Error error);

private:
    explicit KfuncSession(const image::Process& process) : m_process(process) {}

    const image::Process& m_process;
    std::optional<Error> m_error;
};

}  // namespace crib::dump
