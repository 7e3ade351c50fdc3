// The collector's BPF object (bpf/collect/crib_collect.bpf.c, built by
// clang and embedded in the library) loaded into the running kernel with
// libbpf, or taken from an earlier run's pins (pin_cache.hpp), and its
// iterators run over one process.
#pragma once

#include <sys/types.h>

#include <array>
#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "crib/kernel/fd.hpp"
#include "crib/kernel/pin_cache.hpp"

namespace crib::kernel {

// The programs of the object, one per iterator target.
inline constexpr std::string_view kTaskIterator = "collect_task";
inline constexpr std::string_view kVmaIterator = "collect_vma";
inline constexpr std::string_view kFileIterator = "collect_file";
inline constexpr std::array kIterators{kTaskIterator, kVmaIterator, kFileIterator};

std::span<const uint8_t> collect_object_bytes();

class IteratorObject {
public:
    enum class Origin {
        Loaded,     // loaded here; pinning for later runs was not possible
        Published,  // loaded here and pinned for later runs
        Pinned,     // taken from an earlier run's pins: no load at all
    };

    // The programs pinned under `pin_root` for this object and kernel, or,
    // when there are none, the embedded object opened and loaded (CO-RE
    // against the running kernel's BTF, then the kernel's verifier) and
    // pinned there for later runs. An empty `pin_root` neither reuses nor
    // pins. The error says why a kernel refuses: no BTF, missing
    // capabilities, a verifier message.
    static Result<std::unique_ptr<IteratorObject>> load(std::string_view pin_root = kPinRoot);

    // The object this process shares: loaded on first use, kept loaded.
    // Not cached on failure.
    static Result<IteratorObject*> shared();

    IteratorObject(const IteratorObject&) = delete;
    IteratorObject& operator=(const IteratorObject&) = delete;

    Origin origin() const { return m_origin; }

    // Attaches `program` with a task.pid filter for `pid`, so the kernel
    // walks only that process, and reads everything it writes. Runs of
    // the same programs are serialized, across processes too when they are
    // pinned (a lock on their bpffs directory): they share scratch buffers.
    Result<std::vector<uint8_t>> run(std::string_view program, pid_t pid);

private:
    IteratorObject(std::vector<Fd> programs, Fd shared_dir, Origin origin)
        : m_programs(std::move(programs)), m_shared_dir(std::move(shared_dir)), m_origin(origin) {}

    std::vector<Fd> m_programs;  // in kIterators order
    Fd m_shared_dir;             // the pin directory when other runs may use them
    Origin m_origin;
    std::mutex m_run_lock;
};

}  // namespace crib::kernel
