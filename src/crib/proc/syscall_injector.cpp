#include "crib/proc/syscall_injector.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/ptrace.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "crib/proc/freezer.hpp"
#include "crib/proc/procfs_read.hpp"

namespace crib::proc {
namespace {

constexpr uint64_t kRedZone = 128;  // x86-64 SysV: below rsp, owned by leaf code
constexpr std::array<uint8_t, 2> kSyscallInsn{0x0f, 0x05};
constexpr int kSyscallStop = SIGTRAP | 0x80;  // PTRACE_O_TRACESYSGOOD

}  // namespace

Result<std::unique_ptr<SyscallInjector>> SyscallInjector::create(const Freezer& freezer) {
    pid_t pid = freezer.pid();
    auto maps = CRIB_TRY(read_maps(pid));
    auto vdso = std::find_if(maps.begin(), maps.end(),
                             [](const MapsLine& line) { return line.path == "[vdso]"; });
    if (vdso == maps.end())
        return make_error(ENOENT, "process {} has no [vdso] to borrow a syscall instruction from",
                          pid);
    std::string mem_path = fmt::format("/proc/{}/mem", pid);
    int mem_fd = open(mem_path.c_str(), O_RDWR | O_CLOEXEC);
    if (mem_fd < 0) return make_error(errno, "open {}: {}", mem_path, std::strerror(errno));
    std::unique_ptr<SyscallInjector> injector(new SyscallInjector(pid, mem_fd, 0));
    std::vector<uint8_t> code(vdso->end - vdso->start);
    CRIB_TRY(injector->read_memory(vdso->start, code));
    auto found = std::search(code.begin(), code.end(), kSyscallInsn.begin(), kSyscallInsn.end());
    if (found == code.end())
        return make_error(ENOENT, "process {}: no syscall instruction in [vdso] at {:#x}", pid,
                          vdso->start);
    injector->m_syscall_at = vdso->start + static_cast<uint64_t>(found - code.begin());
    return injector;
}

SyscallInjector::~SyscallInjector() {
    if (!m_restored) (void)restore();
    close(m_mem_fd);
}

Result<void> SyscallInjector::read_memory(uint64_t address, std::span<uint8_t> out) {
    ssize_t got = pread(m_mem_fd, out.data(), out.size(), static_cast<off_t>(address));
    if (got != static_cast<ssize_t>(out.size()))
        return make_error(got < 0 ? errno : EIO, "process {}: reading {} bytes at {:#x}: {}", m_pid,
                          out.size(), address, got < 0 ? std::strerror(errno) : "short read");
    return {};
}

Result<void> SyscallInjector::write_memory(uint64_t address, std::span<const uint8_t> bytes) {
    ssize_t wrote = pwrite(m_mem_fd, bytes.data(), bytes.size(), static_cast<off_t>(address));
    if (wrote != static_cast<ssize_t>(bytes.size()))
        return make_error(wrote < 0 ? errno : EIO, "process {}: writing {} bytes at {:#x}: {}",
                          m_pid, bytes.size(), address,
                          wrote < 0 ? std::strerror(errno) : "short write");
    return {};
}

// Before a thread's first call: keep what the calls will change, and block
// every signal so none is delivered while the thread runs for us (setting the
// mask through ptrace also drops a sigsuspend-style temporary mask, whose
// real value PTRACE_GETSIGMASK has already given).
Result<SyscallInjector::Saved*> SyscallInjector::prepare(pid_t tid) {
    for (Saved& saved : m_saved)
        if (saved.tid == tid) return &saved;
    Saved saved;
    saved.tid = tid;
    if (ptrace(PTRACE_GETREGS, tid, nullptr, &saved.regs) != 0)
        return make_error(errno, "ptrace getregs of thread {}: {}", tid, std::strerror(errno));
    if (ptrace(PTRACE_GETSIGMASK, tid, sizeof(uint64_t), &saved.blocked) != 0)
        return make_error(errno, "ptrace getsigmask of thread {}: {}", tid, std::strerror(errno));
    saved.scratch_at = (saved.regs.rsp - kRedZone - kScratchSize) & ~uint64_t{15};
    saved.scratch_bytes.resize(kScratchSize);
    if (auto read = read_memory(saved.scratch_at, saved.scratch_bytes); !read)
        return make_error(read.error().code(),
                          "thread {}: no scratch room on its stack (rsp {:#x}): {}", tid,
                          saved.regs.rsp, read.error().message());
    uint64_t all = ~uint64_t{0};
    if (ptrace(PTRACE_SETSIGMASK, tid, sizeof(uint64_t), &all) != 0)
        return make_error(errno, "ptrace setsigmask of thread {}: {}", tid, std::strerror(errno));
    m_saved.push_back(std::move(saved));
    m_restored = false;
    return &m_saved.back();
}

// Resumes the thread up to its next syscall stop. A PTRACE_EVENT_STOP on the
// way is an interrupt that was still pending from the freeze (a thread seized
// in a group stop traps at once and keeps the interrupt): it is passed.
Result<void> SyscallInjector::run_to_syscall_stop(pid_t tid, const char* which) {
    for (;;) {
        if (ptrace(PTRACE_SYSCALL, tid, nullptr, nullptr) != 0)
            return make_error(errno, "ptrace syscall of thread {}: {}", tid, std::strerror(errno));
        int status = 0;
        pid_t got;
        do got = waitpid(tid, &status, __WALL);
        while (got < 0 && errno == EINTR);
        if (got < 0)
            return make_error(errno, "waiting for thread {} at syscall {}: {}", tid, which,
                              std::strerror(errno));
        if (WIFEXITED(status) || WIFSIGNALED(status))
            return make_error(ESRCH, "thread {} of process {} exited during an injected syscall",
                              tid, m_pid);
        if (WIFSTOPPED(status) && WSTOPSIG(status) == kSyscallStop) return {};
        if (WIFSTOPPED(status) && status >> 16 == PTRACE_EVENT_STOP) continue;
        return make_error(EIO,
                          "thread {} of process {} stopped with signal {} instead of at syscall {}",
                          tid, m_pid, WSTOPSIG(status), which);
    }
}

Result<int64_t> SyscallInjector::call(pid_t tid, long nr, std::array<uint64_t, 6> args,
                                      std::span<uint8_t> scratch) {
    if (scratch.size() > kScratchSize)
        return make_error(EINVAL, "injected syscall {}: {} bytes of scratch, at most {}", nr,
                          scratch.size(), kScratchSize);
    Saved* saved = CRIB_TRY(prepare(tid));
    if (!scratch.empty()) CRIB_TRY(write_memory(saved->scratch_at, scratch));
    user_regs_struct regs = saved->regs;
    const std::array<unsigned long long*, 6> arg_regs{&regs.rdi, &regs.rsi, &regs.rdx,
                                                      &regs.r10, &regs.r8,  &regs.r9};
    for (size_t i = 0; i < args.size(); i++)
        *arg_regs[i] = args[i] == kScratch ? saved->scratch_at : args[i];
    regs.rax = static_cast<uint64_t>(nr);
    regs.orig_rax = ~0ull;  // not in a syscall: nothing for the kernel to restart
    regs.rip = m_syscall_at;
    if (ptrace(PTRACE_SETREGS, tid, nullptr, &regs) != 0)
        return make_error(errno, "ptrace setregs of thread {}: {}", tid, std::strerror(errno));
    saved->moved = true;
    CRIB_TRY(run_to_syscall_stop(tid, "entry"));
    CRIB_TRY(run_to_syscall_stop(tid, "exit"));
    if (ptrace(PTRACE_GETREGS, tid, nullptr, &regs) != 0)
        return make_error(errno, "ptrace getregs of thread {}: {}", tid, std::strerror(errno));
    if (!scratch.empty()) CRIB_TRY(read_memory(saved->scratch_at, scratch));
    return static_cast<int64_t>(regs.rax);
}

// A thread taken off its interrupt stop is put back on one: with its own
// registers set in the syscall-exit stop, an interrupt makes it trap again in
// the signal path on its way out, where it was frozen, so that an
// interrupted syscall of its own is still restarted by the kernel on thaw.
Result<void> SyscallInjector::restore_thread(Saved& saved) {
    pid_t tid = saved.tid;
    if (saved.moved) {
        if (ptrace(PTRACE_SETREGS, tid, nullptr, &saved.regs) != 0)
            return make_error(errno, "ptrace setregs of thread {}: {}", tid, std::strerror(errno));
        if (ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0 ||
            ptrace(PTRACE_CONT, tid, nullptr, nullptr) != 0)
            return make_error(errno, "interrupting thread {} again: {}", tid, std::strerror(errno));
        for (;;) {
            int status = 0;
            if (waitpid(tid, &status, __WALL) < 0) {
                if (errno == EINTR) continue;
                return make_error(errno, "waiting for thread {} to stop again: {}", tid,
                                  std::strerror(errno));
            }
            if (WIFEXITED(status) || WIFSIGNALED(status))
                return make_error(ESRCH, "thread {} of process {} exited", tid, m_pid);
            if (WIFSTOPPED(status) && status >> 16 == PTRACE_EVENT_STOP) break;
            return make_error(EIO,
                              "thread {} of process {} stopped with signal {} instead of "
                              "the interrupt",
                              tid, m_pid, WSTOPSIG(status));
        }
        saved.moved = false;
    }
    if (ptrace(PTRACE_SETSIGMASK, tid, sizeof(uint64_t), &saved.blocked) != 0)
        return make_error(errno, "ptrace setsigmask of thread {}: {}", tid, std::strerror(errno));
    return write_memory(saved.scratch_at, saved.scratch_bytes);
}

Result<void> SyscallInjector::restore() {
    m_restored = true;
    std::optional<Error> failure;
    for (Saved& saved : m_saved)
        if (auto done = restore_thread(saved); !done && !failure) failure = std::move(done).error();
    m_saved.clear();
    if (failure) return std::move(*failure);
    return {};
}

}  // namespace crib::proc
