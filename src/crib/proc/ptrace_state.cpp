#include "crib/proc/ptrace_state.hpp"

#include <elf.h>
#include <sys/ptrace.h>
#include <sys/uio.h>
#include <sys/user.h>

#include <algorithm>
#include <cstddef>
#include <cstring>

#include "crib/proc/freezer.hpp"

namespace crib::proc {
namespace {

constexpr size_t kRax = offsetof(user_regs_struct, rax) / 8;
constexpr size_t kOrigRax = offsetof(user_regs_struct, orig_rax) / 8;
constexpr size_t kRip = offsetof(user_regs_struct, rip) / 8;
static_assert(sizeof(user_regs_struct) == sizeof(image::Thread::regs));

// The kernel-internal restart codes an interrupted syscall leaves in rax
// (include/linux/errno.h), and what a thread restored from the image must do.
enum class Resume { Reissue, Eintr };
struct RestartCode {
    int64_t code;
    Resume resume;
};
constexpr std::array kRestartCodes{
    RestartCode{-512, Resume::Reissue},  // ERESTARTSYS
    RestartCode{-513, Resume::Reissue},  // ERESTARTNOINTR
    RestartCode{-514, Resume::Reissue},  // ERESTARTNOHAND
    RestartCode{-516, Resume::Eintr},    // ERESTART_RESTARTBLOCK
};
constexpr size_t kSyscallInsnSize = 2;
// Big enough for any xstate layout (AMX tile data included); the kernel
// says how much it filled.
constexpr size_t kXstateMax = size_t{64} * 1024;
constexpr size_t kPeekBatch = 32;

void rewind_interrupted_syscall(std::array<uint64_t, 27>& regs) {
    if (static_cast<int64_t>(regs[kOrigRax]) >= 0) {
        auto code = static_cast<int64_t>(regs[kRax]);
        for (const RestartCode& restart : kRestartCodes) {
            if (restart.code != code) continue;
            if (restart.resume == Resume::Reissue) {
                regs[kRax] = regs[kOrigRax];
                regs[kRip] -= kSyscallInsnSize;
            } else {
                regs[kRax] = static_cast<uint64_t>(-EINTR);
            }
        }
    }
    regs[kOrigRax] = ~uint64_t{0};
}

Result<void> get_regset(pid_t tid, int type, void* buffer, size_t& size, const char* what) {
    iovec iov{buffer, size};
    if (ptrace(PTRACE_GETREGSET, tid, type, &iov) != 0)
        return make_error(errno, "ptrace getregset {} of thread {}: {}", what, tid,
                          std::strerror(errno));
    size = iov.iov_len;
    return {};
}

Result<std::vector<image::PendingSignal>> peek_signals(pid_t tid, bool shared) {
    std::vector<image::PendingSignal> signals;
    for (;;) {
        std::array<image::PendingSignal, kPeekBatch> batch{};
        __ptrace_peeksiginfo_args args{signals.size(),
                                       shared ? uint32_t{PTRACE_PEEKSIGINFO_SHARED} : 0u,
                                       static_cast<int32_t>(batch.size())};
        long got = ptrace(PTRACE_PEEKSIGINFO, tid, &args, batch.data());
        if (got < 0)
            return make_error(errno, "ptrace peeksiginfo ({}) of thread {}: {}",
                              shared ? "process" : "thread", tid, std::strerror(errno));
        signals.insert(signals.end(), batch.begin(), batch.begin() + got);
        if (got < static_cast<long>(batch.size())) return signals;
    }
}

Result<void> collect_thread(pid_t tid, image::Thread& thread) {
    size_t size = sizeof(thread.regs);
    CRIB_TRY(get_regset(tid, NT_PRSTATUS, thread.regs.data(), size, "NT_PRSTATUS"));
    if (size != sizeof(thread.regs))
        return make_error(EIO, "thread {}: NT_PRSTATUS of {} bytes, expected {}", tid, size,
                          sizeof(thread.regs));
    rewind_interrupted_syscall(thread.regs);

    thread.xstate.resize(kXstateMax);
    size = thread.xstate.size();
    CRIB_TRY(get_regset(tid, NT_X86_XSTATE, thread.xstate.data(), size, "NT_X86_XSTATE"));
    thread.xstate.resize(size);

    if (ptrace(PTRACE_GETSIGMASK, tid, sizeof(thread.blocked), &thread.blocked) != 0)
        return make_error(errno, "ptrace getsigmask of thread {}: {}", tid, std::strerror(errno));
    thread.pending = CRIB_TRY(peek_signals(tid, false));

    __ptrace_rseq_configuration rseq{};
    if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, tid, sizeof(rseq), &rseq) < 0)
        return make_error(errno, "ptrace get rseq configuration of thread {}: {}", tid,
                          std::strerror(errno));
    thread.rseq = {rseq.rseq_abi_pointer, rseq.rseq_abi_size, rseq.flags, rseq.signature};
    return {};
}

}  // namespace

void match_threads(const Freezer& freezer, image::Process& out) {
    const auto& tids = freezer.threads();
    bool same =
        out.threads.size() == tids.size() &&
        std::equal(tids.begin(), tids.end(), out.threads.begin(),
                   [](pid_t tid, const image::Thread& thread) { return thread.tid == tid; });
    if (same) return;
    std::vector<image::Thread> threads(tids.size());
    for (size_t i = 0; i < tids.size(); i++) {
        auto known =
            std::find_if(out.threads.begin(), out.threads.end(),
                         [&](const image::Thread& thread) { return thread.tid == tids[i]; });
        if (known != out.threads.end()) threads[i] = std::move(*known);
        threads[i].tid = tids[i];
    }
    out.threads = std::move(threads);
}

Result<void> collect_ptrace_state(const Freezer& freezer, image::Process& out) {
    match_threads(freezer, out);
    for (image::Thread& thread : out.threads) CRIB_TRY(collect_thread(thread.tid, thread));
    out.task.shared_pending = CRIB_TRY(peek_signals(freezer.pid(), true));
    return {};
}

}  // namespace crib::proc
