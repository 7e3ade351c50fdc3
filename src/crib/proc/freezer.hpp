// Freezing a process for checkpointing: every thread ptrace-seized and held
// in a PTRACE_INTERRUPT stop (PTRACE_EVENT_STOP) for the whole collection.
//
// A thread held this way sits inside the kernel's signal-delivery path, so
// a syscall it was blocked in has returned -ERESTART* and is restarted by
// the kernel when the thread is let go; detaching from that stop is what
// thaw() does, so the process goes on as if nothing happened. A process
// that was already stopped (SIGSTOP, SIGTSTP...) reports the same stop with
// its stop signal and is back in its group stop after thaw().
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "base/result.hpp"

namespace crib::proc {

class Freezer {
public:
    // Seizes and interrupts every thread of `pid` and waits until each is
    // stopped, re-reading /proc/PID/task until no thread appears that is not
    // held. Refused: no such process (ESRCH), a thread id that is not a
    // thread-group leader (EINVAL), crib's own process (EPERM), a zombie
    // (ESRCH), a kernel thread (EPERM), a process already traced (EBUSY).
    // On failure every thread already seized is let go again.
    //
    // A thread in uninterruptible sleep (D: a vfork parent waiting for its
    // child to exec, a hung NFS read) would not stop for ptrace until it
    // leaves the kernel, and a thread seized but not stopped cannot be let
    // go again. So the threads are waited for up to `uninterruptible_wait`
    // before any is seized; one still in D then is refused (EAGAIN), naming
    // the thread and where it sleeps, with the process untouched.
    static Result<std::unique_ptr<Freezer>> freeze(
        pid_t pid, std::chrono::milliseconds uninterruptible_wait = kUninterruptibleWait);
    static constexpr std::chrono::milliseconds kUninterruptibleWait{5000};

    Freezer(const Freezer&) = delete;
    Freezer& operator=(const Freezer&) = delete;
    ~Freezer();  // thaw() unless thaw() or kill() ran

    pid_t pid() const { return m_pid; }
    const std::vector<pid_t>& threads() const { return m_threads; }  // leader first

    // Detaches every thread: interrupted syscalls restart, pending signals
    // are delivered as they would have been, a stopped process stays stopped.
    Result<void> thaw();
    // SIGKILLs the process while it is frozen. With WaitUntilGone, waits as
    // its tracer until every thread has exited (the address space is torn
    // down by then, which for gigabytes takes a while); if the caller is also
    // the process's parent this reaps it, otherwise the parent still gets the
    // exit status. With Return, the process is dying but its zombies stay
    // attached to this thread until it waits for them or exits: for a
    // command that exits right away.
    enum class KillWait : uint8_t { WaitUntilGone, Return };
    Result<void> kill(KillWait wait = KillWait::WaitUntilGone);

private:
    explicit Freezer(pid_t pid) : m_pid(pid) {}
    Result<void> seize_all();
    Result<void> seize(pid_t tid);
    Result<void> wait_stopped(pid_t tid);

    pid_t m_pid;
    std::vector<pid_t> m_threads;
    bool m_released = false;
};

}  // namespace crib::proc
