#include "crib/proc/freezer.hpp"

#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>
#include <thread>

#include "crib/proc/procfs_read.hpp"

namespace crib::proc {
namespace {

constexpr uint64_t kPfKthread = 0x00200000;  // task flags bit of kernel threads (stat field 9)

std::string status_path(pid_t pid, pid_t tid) {
    return pid == tid ? fmt::format("/proc/{}/status", pid)
                      : fmt::format("/proc/{}/task/{}/status", pid, tid);
}

// Everything that makes a process impossible to freeze and that /proc can
// tell before ptrace is tried, so the caller gets the reason, not just EPERM.
Result<void> check_freezable(pid_t pid) {
    if (pid <= 0) return make_error(EINVAL, "bad pid {}", pid);
    auto status = read_proc_file(status_path(pid, pid));
    if (!status) {
        if (status.error().code() == ENOENT) return make_error(ESRCH, "no process {}", pid);
        return std::move(status).error();
    }
    std::string_view tgid = find_field(*status, "Tgid").value_or("");
    if (tgid != std::to_string(pid))
        return make_error(EINVAL, "{} is a thread of process {}: freeze the process", pid, tgid);
    if (pid == getpid()) return make_error(EPERM, "process {} is crib itself", pid);
    std::string_view state = find_field(*status, "State").value_or("");
    if (!state.empty() && (state[0] == 'Z' || state[0] == 'X')) {
        auto threads = list_threads(pid);
        if (threads && threads->size() > 1)
            return make_error(EINVAL,
                              "the leader of process {} has exited while its other threads run: "
                              "not supported",
                              pid);
        return make_error(ESRCH, "process {} is a zombie (exited, not reaped yet)", pid);
    }
    auto stat = CRIB_TRY(StatLine::read(pid));
    if (CRIB_TRY(stat.field(9)) & kPfKthread)
        return make_error(EPERM, "process {} ({}) is a kernel thread", pid, stat.comm());
    std::string_view tracer = find_field(*status, "TracerPid").value_or("0");
    if (tracer != "0")
        return make_error(EBUSY, "process {} is already traced by pid {}", pid, tracer);
    return {};
}

// Why PTRACE_SEIZE failed with EPERM on a thread the checks above allowed.
Error seize_refused(pid_t pid, pid_t tid) {
    auto status = read_proc_file(status_path(pid, tid));
    std::string_view tracer = status ? find_field(*status, "TracerPid").value_or("0") : "0";
    if (tracer != "0")
        return make_error(EBUSY, "thread {} of process {} is already traced by pid {}", tid, pid,
                          tracer);
    return make_error(EPERM,
                      "ptrace refused to seize thread {} of process {}: crib lacks "
                      "CAP_SYS_PTRACE over it, or a security module denies it",
                      tid, pid);
}

// The first thread of PID in uninterruptible sleep, or 0.
pid_t thread_in_uninterruptible_sleep(pid_t pid) {
    auto threads = list_threads(pid);
    if (!threads) return 0;
    for (pid_t tid : *threads) {
        auto stat = StatLine::read(tid);
        if (stat && stat->state() == 'D') return tid;
    }
    return 0;
}

Result<void> wait_out_of_uninterruptible_sleep(pid_t pid, std::chrono::milliseconds limit) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    auto pause = std::chrono::microseconds(50);
    for (;;) {
        const pid_t tid = thread_in_uninterruptible_sleep(pid);
        if (tid == 0) return {};
        if (std::chrono::steady_clock::now() >= deadline) {
            auto wchan = read_proc_file(fmt::format("/proc/{}/task/{}/wchan", pid, tid));
            const std::string where = wchan && !wchan->empty() && *wchan != "0"
                                          ? fmt::format(" in {}", *wchan)
                                          : std::string();
            return make_error(EAGAIN,
                              "thread {} of process {} stayed in uninterruptible sleep{} for {} "
                              "ms: ptrace cannot stop it there; try again when it has left the "
                              "kernel",
                              tid, pid, where, limit.count());
        }
        std::this_thread::sleep_for(pause);
        pause = std::min<std::chrono::microseconds>(pause * 2, std::chrono::milliseconds(5));
    }
}

}  // namespace

Result<std::unique_ptr<Freezer>> Freezer::freeze(pid_t pid,
                                                 std::chrono::milliseconds uninterruptible_wait) {
    CRIB_TRY(check_freezable(pid));
    CRIB_TRY(wait_out_of_uninterruptible_sleep(pid, uninterruptible_wait));
    std::unique_ptr<Freezer> freezer(new Freezer(pid));
    if (auto seized = freezer->seize_all(); !seized) {
        (void)freezer->thaw();
        return std::move(seized).error();
    }
    return freezer;
}

Freezer::~Freezer() {
    if (!m_released) (void)thaw();
}

// A thread can start another while we seize the ones we know of, so the
// task list is read again until it names no thread we do not hold. Threads
// held stopped cannot clone, so this ends.
Result<void> Freezer::seize_all() {
    for (;;) {
        auto listed = list_threads(m_pid);
        if (!listed) {
            if (listed.error().code() == ENOENT)
                return make_error(ESRCH, "process {} exited while being frozen", m_pid);
            return std::move(listed).error();
        }
        std::vector<pid_t> fresh;
        for (pid_t tid : *listed)
            if (std::find(m_threads.begin(), m_threads.end(), tid) == m_threads.end())
                fresh.push_back(tid);
        if (fresh.empty()) break;

        // Seize and interrupt all new threads first and wait after, so they
        // stop together; on an error the ones seized are still waited for,
        // since only a stopped tracee can be detached.
        std::vector<pid_t> seized;
        std::optional<Error> failure;
        for (pid_t tid : fresh) {
            if (auto done = seize(tid); !done) {
                if (done.error().code() == ESRCH && tid != m_pid) continue;  // exited meanwhile
                failure = std::move(done).error();
                break;
            }
            seized.push_back(tid);
        }
        for (pid_t tid : seized) {
            auto stopped = wait_stopped(tid);
            if (stopped) m_threads.push_back(tid);
            if (!stopped && stopped.error().code() != ESRCH && !failure)
                failure = std::move(stopped).error();
        }
        if (failure) return std::move(*failure);
        if (m_threads.empty() || m_threads.front() != m_pid)
            return make_error(ESRCH, "process {} exited while being frozen", m_pid);
    }
    // Listing order: the leader first, then ascending thread ids.
    std::sort(m_threads.begin() + 1, m_threads.end());
    return {};
}

Result<void> Freezer::seize(pid_t tid) {
    // TRACESYSGOOD marks syscall stops, which only the syscall injector makes.
    if (ptrace(PTRACE_SEIZE, tid, nullptr, PTRACE_O_TRACESYSGOOD) != 0) {
        if (errno == EPERM) return seize_refused(m_pid, tid);
        if (errno == ESRCH) return make_error(ESRCH, "no process {}", tid);
        return make_error(errno, "ptrace seize of thread {} of process {}: {}", tid, m_pid,
                          std::strerror(errno));
    }
    if (ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0)
        return make_error(errno, "ptrace interrupt of thread {} of process {}: {}", tid, m_pid,
                          std::strerror(errno));
    return {};
}

// Waits for the PTRACE_EVENT_STOP of a thread just interrupted. A signal
// that was being delivered as the interrupt came (a signal-delivery stop) is
// let through, so it is neither lost nor delivered twice, and the thread is
// interrupted again: it then stops at the start of the handler, or in the
// group stop the signal caused. ESRCH when the thread exited instead.
Result<void> Freezer::wait_stopped(pid_t tid) {
    for (;;) {
        int status = 0;
        if (waitpid(tid, &status, __WALL) < 0) {
            if (errno == EINTR) continue;
            return make_error(errno, "waiting for thread {} of process {} to stop: {}", tid, m_pid,
                              std::strerror(errno));
        }
        if (WIFEXITED(status) || WIFSIGNALED(status))
            return make_error(ESRCH, "thread {} of process {} exited while being frozen", tid,
                              m_pid);
        if (!WIFSTOPPED(status)) continue;
        if (status >> 16 == PTRACE_EVENT_STOP) return {};
        if (ptrace(PTRACE_CONT, tid, nullptr, WSTOPSIG(status)) != 0 ||
            ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0)
            return make_error(errno, "passing signal {} on to thread {} of process {}: {}",
                              WSTOPSIG(status), tid, m_pid, std::strerror(errno));
    }
}

Result<void> Freezer::thaw() {
    m_released = true;
    std::optional<Error> failure;
    for (pid_t tid : m_threads) {
        // ESRCH: the thread is gone (killed meanwhile); nothing to let go.
        if (ptrace(PTRACE_DETACH, tid, nullptr, nullptr) != 0 && errno != ESRCH && !failure)
            failure = make_error(errno, "ptrace detach of thread {} of process {}: {}", tid, m_pid,
                                 std::strerror(errno));
    }
    if (failure) return std::move(*failure);
    return {};
}

Result<void> Freezer::kill(KillWait wait) {
    m_released = true;
    if (::kill(m_pid, SIGKILL) != 0)
        return make_error(errno, "SIGKILL to process {}: {}", m_pid, std::strerror(errno));
    if (wait == KillWait::Return) return {};
    // Traced threads stay zombies until their tracer has seen them exit; the
    // leader goes last, it is released only once the other threads are gone.
    for (auto it = m_threads.rbegin(); it != m_threads.rend(); ++it) {
        for (;;) {
            int status = 0;
            if (waitpid(*it, &status, __WALL) < 0) {
                if (errno == EINTR) continue;
                if (errno == ECHILD) break;  // already reaped
                return make_error(errno, "waiting for thread {} of killed process {}: {}", *it,
                                  m_pid, std::strerror(errno));
            }
            if (WIFEXITED(status) || WIFSIGNALED(status)) break;
        }
    }
    return {};
}

}  // namespace crib::proc
