// The kernel collector: a frozen process's state read by real BPF iterators
// (iter/task, iter/task_vma, iter/task_file) running in the kernel, in
// binary, instead of parsing /proc. It fills the same image::Process fields
// as proc::collect_procfs, which is the fallback when the kernel will not
// load the iterators (available() says why).
#pragma once

#include "base/result.hpp"
#include "crib/image/model.hpp"
#include "crib/proc/freezer.hpp"

namespace crib::kernel {

// Whether this kernel lets us load and run the collector's iterators: its
// BTF is there and we may load tracing programs. The error explains why not
// (no /sys/kernel/btf/vmlinux, EPERM without CAP_BPF/CAP_PERFMON, a refusal
// by the kernel's verifier).
Result<void> available();

// Everything of image::Process that proc::collect_ptrace_state does not
// fill (registers, xstate, blocked, pending signals, rseq) and except
// Vma::pages: task ids, comm, exe, cwd, root, umask, personality,
// credentials, rlimits, sigactions, itimers, mm layout with auxv; per
// thread tid, altstack and clear_child_tid (threads ordered as the freezer
// holds them); VMAs sorted by start; files sorted by fd with pipe contents
// and eventfd counters. The process must be held by `freezer`.
Result<void> collect_kernel(const proc::Freezer& freezer, image::Process& out);

}  // namespace crib::kernel
