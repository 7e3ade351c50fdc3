#include "crib/restore/tracer.hpp"

#include <elf.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <thread>

#include "crib/restore/restorer/abi.h"

namespace crib::restore {

namespace {

constexpr const char* kStepNames[CRIB_RST_STEP_COUNT] = {
    "?",
    "reading its arguments",
    "unmapping the old address space",
    "parking the vdso/vvar",
    "moving the vdso/vvar to the saved addresses",
    "moving a mapping to its saved address",
    "setting a mapping's protection",
    "setting the mm fields (PR_SET_MM_MAP)",
    "setting a signal action",
    "setting an interval timer",
    "creating a thread with its saved tid",
    "queueing a pending signal",
    "setting a signal stack",
    "registering rseq",
    "setting credentials",
};

Result<user_regs_struct> get_regs(pid_t tid) {
    user_regs_struct regs;
    if (ptrace(PTRACE_GETREGS, tid, nullptr, &regs) < 0)
        return make_error(errno, "thread {}: cannot read registers: {}", tid, strerror(errno));
    return regs;
}

Result<void> set_regs(pid_t tid, const user_regs_struct& regs) {
    if (ptrace(PTRACE_SETREGS, tid, nullptr, &regs) < 0)
        return make_error(errno, "thread {}: cannot set registers: {}", tid, strerror(errno));
    return {};
}

// The child's status pipe carries either an error ('E', errno, ' ', text)
// or, just before it jumps to the restorer, the hole ('H', start, end).
struct ChildReport {
    std::optional<Error> error;
    std::optional<Hole> hole;
};

ChildReport read_report(int fd) {
    std::string bytes;
    char buf[4096];
    ssize_t n;
    while ((n = read(fd, buf, sizeof(buf))) > 0) bytes.append(buf, n);
    ChildReport report;
    if (bytes.size() >= 1 + 2 * sizeof(uint64_t) && bytes[0] == 'H') {
        Hole hole;
        std::memcpy(&hole.start, bytes.data() + 1, 8);
        std::memcpy(&hole.end, bytes.data() + 9, 8);
        report.hole = hole;
    } else if (!bytes.empty() && bytes[0] == 'E') {
        size_t space = bytes.find(' ');
        int code = std::atoi(bytes.c_str() + 1);
        report.error =
            Error(code ? code : EINVAL,
                  space == std::string::npos ? bytes.substr(1) : bytes.substr(space + 1));
    }
    return report;
}

Result<void> load_thread(pid_t tid, const image::Thread& saved) {
    if (!saved.xstate.empty()) {
        std::vector<uint8_t> xstate = saved.xstate;
        iovec iov{xstate.data(), xstate.size()};
        if (ptrace(PTRACE_SETREGSET, tid, NT_X86_XSTATE, &iov) < 0)
            return make_error(errno, "thread {}: cannot set the FPU/xsave state: {}", tid,
                              strerror(errno));
    }
    user_regs_struct regs;
    static_assert(sizeof(regs) == sizeof(saved.regs));
    std::memcpy(&regs, saved.regs.data(), sizeof(regs));
    regs.orig_rax = -1;  // no syscall to restart on the way out
    CRIB_TRY(set_regs(tid, regs));
    uint64_t mask = saved.blocked;
    if (ptrace(PTRACE_SETSIGMASK, tid, sizeof(mask), &mask) < 0)
        return make_error(errno, "thread {}: cannot set the signal mask: {}", tid, strerror(errno));
    return {};
}

Result<int> wait_stop(pid_t tid) {
    int status;
    if (waitpid(tid, &status, __WALL) < 0)
        return make_error(errno, "thread {}: wait failed: {}", tid, strerror(errno));
    if (!WIFSTOPPED(status))
        return make_error(ECHILD, "thread {}: ended while the restorer was being removed", tid);
    return status;
}

}  // namespace

Result<Tracer> Tracer::seize(pid_t pid, std::vector<pid_t> tids) {
    long options = PTRACE_O_TRACECLONE | PTRACE_O_TRACESYSGOOD | PTRACE_O_EXITKILL;
    if (ptrace(PTRACE_SEIZE, pid, nullptr, options) < 0)
        return make_error(errno, "pid {}: cannot trace the restoring child: {}", pid,
                          strerror(errno));
    return Tracer(pid, std::move(tids));
}

Result<Hole> Tracer::wait_for_restorer(int status_fd, std::chrono::milliseconds limit) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    std::map<pid_t, bool> arrived;
    std::optional<Hole> hole;
    auto in_hole = [&](uint64_t rip) { return hole && rip >= hole->start && rip < hole->end; };
    while (arrived.size() < m_tids.size()) {
        bool any = false;
        for (pid_t tid : m_tids) {
            if (arrived.count(tid)) continue;
            int status;
            pid_t got = waitpid(tid, &status, __WALL | WNOHANG);
            if (got <= 0) continue;
            any = true;
            if (WIFEXITED(status) || WIFSIGNALED(status)) {
                ChildReport report = read_report(status_fd);
                if (report.error) return *report.error;
                return make_error(ECHILD, "the restoring child {} {} {} before it was done", tid,
                                  WIFEXITED(status) ? "exited with" : "was killed by",
                                  WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
            }
            int event = status >> 16, sig = WSTOPSIG(status);
            if (event != 0 || sig == SIGSTOP) {
                // Clone events and the first stop of a new thread.
                ptrace(PTRACE_CONT, tid, nullptr, nullptr);
                continue;
            }
            if (!hole) {
                ChildReport report = read_report(status_fd);
                hole = report.hole;
            }
            auto regs = CRIB_TRY(get_regs(tid));
            if (sig == SIGTRAP && in_hole(regs.rip)) {
                arrived[tid] = true;
                continue;
            }
            if (sig == SIGILL && in_hole(regs.rip)) {
                long step = regs.rdi, err = -static_cast<long>(regs.rsi);
                const char* what = step > 0 && step < CRIB_RST_STEP_COUNT ? kStepNames[step] : "?";
                return make_error(err ? static_cast<int>(err) : EINVAL,
                                  "restorer in thread {} failed {}: {}", tid, what,
                                  err ? strerror(err) : "bad arguments");
            }
            if (sig == SIGSEGV || sig == SIGBUS || sig == SIGILL || sig == SIGFPE ||
                sig == SIGTRAP || sig == SIGSYS)
                return make_error(EFAULT, "thread {} got {} at {:#x} during the restore", tid,
                                  strsignal(sig), regs.rip);
            ptrace(PTRACE_CONT, tid, nullptr, reinterpret_cast<void*>(static_cast<long>(sig)));
        }
        if (!any) {
            if (std::chrono::steady_clock::now() >= deadline)
                return make_error(ETIMEDOUT,
                                  "the restore did not finish within {} ms ({} of {} "
                                  "threads ready)",
                                  limit.count(), arrived.size(), m_tids.size());
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
    }
    if (!hole) return make_error(EPROTO, "the restoring child did not report its staging hole");
    return *hole;
}

Result<void> Tracer::finish(const image::Process& process, const Hole& hole) {
    for (size_t i = 1; i < process.threads.size(); i++)
        CRIB_TRY(load_thread(process.threads[i].tid, process.threads[i]));

    // The leader unmaps the hole (the restorer, its stacks and arguments)
    // from the gadget inside it; the syscall returns into the saved
    // registers set at its exit stop.
    pid_t leader = m_pid;
    auto regs = CRIB_TRY(get_regs(leader));
    regs.rax = SYS_munmap;
    regs.orig_rax = SYS_munmap;
    regs.rdi = hole.start;
    regs.rsi = hole.end - hole.start;
    regs.rip = hole.start + CRIB_RST_GADGET_OFFSET;
    CRIB_TRY(set_regs(leader, regs));
    for (int stop = 0; stop < 2; stop++) {
        if (ptrace(PTRACE_SYSCALL, leader, nullptr, nullptr) < 0)
            return make_error(errno, "pid {}: cannot step the final munmap: {}", leader,
                              strerror(errno));
        int status = CRIB_TRY(wait_stop(leader));
        if (WSTOPSIG(status) != (SIGTRAP | 0x80))
            return make_error(EPROTO, "pid {}: stopped with {} instead of at the final munmap",
                              leader, strsignal(WSTOPSIG(status) & 0x7f));
    }
    regs = CRIB_TRY(get_regs(leader));
    if (regs.rax != 0)
        return make_error(-static_cast<long>(regs.rax), "pid {}: unmapping the restorer failed: {}",
                          leader, strerror(-static_cast<long>(regs.rax)));
    CRIB_TRY(load_thread(leader, process.threads[0]));

    for (pid_t tid : m_tids)
        if (ptrace(PTRACE_DETACH, tid, nullptr, nullptr) < 0)
            return make_error(errno, "thread {}: cannot detach: {}", tid, strerror(errno));
    return {};
}

void Tracer::kill_and_reap() {
    ::kill(m_pid, SIGKILL);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (std::chrono::steady_clock::now() < deadline) {
        for (pid_t tid : m_tids)
            if (tid != m_pid) waitpid(tid, nullptr, __WALL | WNOHANG);
        int status;
        pid_t got = waitpid(m_pid, &status, __WALL | WNOHANG);
        if (got < 0 || (got == m_pid && (WIFEXITED(status) || WIFSIGNALED(status)))) return;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

}  // namespace crib::restore
