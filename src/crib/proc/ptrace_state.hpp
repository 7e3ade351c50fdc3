// Per-thread state only ptrace gives, collected the same way whichever
// collector filled the rest of the image: registers (PTRACE_GETREGSET
// NT_PRSTATUS and NT_X86_XSTATE), the signal mask (PTRACE_GETSIGMASK),
// queued signals (PTRACE_PEEKSIGINFO, thread- and process-directed) and the
// rseq registration (PTRACE_GET_RSEQ_CONFIGURATION).
//
// Registers are saved as a restored thread must resume: a thread frozen
// inside an interrupted syscall gets rax = orig_rax and rip -= 2 (it issues
// the syscall again) for -ERESTARTSYS, -ERESTARTNOINTR and -ERESTARTNOHAND,
// and rax = -EINTR for -ERESTART_RESTARTBLOCK, whose restart state stays in
// the old kernel. orig_rax is then -1 in every thread: no syscall in flight.
#pragma once

#include "base/result.hpp"
#include "crib/image/model.hpp"

namespace crib::proc {

class Freezer;

// Fills threads[i].{regs, xstate, blocked, pending, rseq} and
// task.shared_pending of a frozen process.
Result<void> collect_ptrace_state(const Freezer& freezer, image::Process& out);

// Makes out.threads one entry per frozen thread, in the freezer's order
// (leader first), keeping entries a collector already filled for them.
void match_threads(const Freezer& freezer, image::Process& out);

}  // namespace crib::proc
