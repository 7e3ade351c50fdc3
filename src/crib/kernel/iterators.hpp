// The collector's BPF object (bpf/collect/crib_collect.bpf.c, built by
// clang and embedded in the library) loaded into the running kernel with
// libbpf, and its iterators run over one process.
#pragma once

#include <sys/types.h>

#include <memory>
#include <mutex>
#include <span>
#include <string_view>
#include <vector>

#include "base/result.hpp"

struct bpf_object;

namespace crib::kernel {

// The programs of the object, one per iterator target.
inline constexpr std::string_view kTaskIterator = "collect_task";
inline constexpr std::string_view kVmaIterator = "collect_vma";
inline constexpr std::string_view kFileIterator = "collect_file";

std::span<const uint8_t> collect_object_bytes();

class IteratorObject {
public:
    // Opens the embedded object and loads it (CO-RE against the running
    // kernel's BTF, then the kernel's verifier). The error says why a kernel
    // refuses: no BTF, missing capabilities, a verifier message.
    static Result<std::unique_ptr<IteratorObject>> load();

    // The object this process shares: loaded on first use, kept loaded (the
    // load is most of a small collection's time). Not cached on failure.
    static Result<IteratorObject*> shared();

    IteratorObject(const IteratorObject&) = delete;
    IteratorObject& operator=(const IteratorObject&) = delete;
    ~IteratorObject();

    // Attaches `program` with a task.pid filter for `pid`, so the kernel
    // walks only that process, and reads everything it writes. Runs are
    // serialized: the programs share their scratch buffers.
    Result<std::vector<uint8_t>> run(std::string_view program, pid_t pid);

private:
    explicit IteratorObject(struct bpf_object* object) : m_object(object) {}

    struct bpf_object* m_object;
    std::mutex m_run_lock;
};

}  // namespace crib::kernel
