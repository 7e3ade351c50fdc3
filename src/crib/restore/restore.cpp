#include "crib/restore/restore.hpp"

#include <fcntl.h>
#include <linux/sched.h>
#include <sched.h>
#include <signal.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/rseq.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

#include "crib/restore/address_space.hpp"
#include "crib/restore/files.hpp"
#include "crib/restore/preflight.hpp"
#include "crib/restore/tracer.hpp"

namespace crib::restore {

namespace {

// How long the child may take from clone to the restorer's last int3.
constexpr std::chrono::seconds kBuildLimit{120};

void write_all(int fd, const void* data, size_t size) {
    auto* p = static_cast<const char*>(data);
    while (size > 0) {
        ssize_t n = write(fd, p, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        p += n;
        size -= n;
    }
}

[[noreturn]] void child_fail(int status_fd, const Error& error) {
    std::string text = fmt::format("E{} {}", error.code(), error.message());
    write_all(status_fd, text.data(), text.size());
    _exit(127);
}

// What can be set with libc still present, before the address space goes.
Result<void> restore_task_basics(const image::Task& task) {
    if (task.sid == task.pid) {
        if (setsid() < 0)
            return make_error(errno, "pid {}: cannot start the saved session: {}", task.pid,
                              strerror(errno));
    } else if (task.pgid == task.pid) {
        if (setpgid(0, 0) < 0)
            return make_error(errno, "pid {}: cannot lead the saved process group: {}", task.pid,
                              strerror(errno));
    } else {
        // The group lives on only if someone in our session still leads it.
        setpgid(0, task.pgid);
    }
    // The threads the restorer creates inherit the name.
    prctl(PR_SET_NAME, task.comm.c_str());
    umask(task.umask);
    if (personality(task.personality) < 0)
        return make_error(errno, "cannot set personality {:#x}: {}", task.personality,
                          strerror(errno));
    if (!task.cwd.empty() && chdir(task.cwd.c_str()) < 0)
        return make_error(errno, "cannot enter the saved working directory '{}': {}", task.cwd,
                          strerror(errno));
    return {};
}

// Limits go last: a low RLIMIT_NOFILE must not stop the child placing fds.
// Hard limits cannot be raised here (no CAP_SYS_RESOURCE): each is kept at
// most at its current value.
Result<void> restore_rlimits(const image::Task& task) {
    for (int resource = 0; resource < static_cast<int>(image::kRlimitCount); resource++) {
        const image::Rlimit& saved = task.rlimits[resource];
        if (saved.cur == 0 && saved.max == 0) continue;  // not collected
        rlimit now;
        if (getrlimit(resource, &now) < 0) continue;
        rlimit want{std::min<rlim_t>(saved.cur, std::min<rlim_t>(saved.max, now.rlim_max)),
                    std::min<rlim_t>(saved.max, now.rlim_max)};
        if (setrlimit(resource, &want) < 0)
            return make_error(errno, "cannot set rlimit {} to {}/{}: {}", resource, want.rlim_cur,
                              want.rlim_max, strerror(errno));
    }
    return {};
}

// glibc registered rseq for this thread in memory that is about to vanish;
// the kernel would write to it on the next preemption.
// The kernel wants the length glibc registered: 32 (struct rseq) in the
// glibc versions that export __rseq_size, or __rseq_size itself.
void unregister_rseq() {
    if (__rseq_size == 0) return;
    auto* area = reinterpret_cast<char*>(__builtin_thread_pointer()) + __rseq_offset;
    if (syscall(SYS_rseq, area, 32, RSEQ_FLAG_UNREGISTER, RSEQ_SIG) != 0)
        syscall(SYS_rseq, area, __rseq_size, RSEQ_FLAG_UNREGISTER, RSEQ_SIG);
}

// The exe link is replaced only when it changes: the kernel refuses a new
// one while the old file is still mapped, and the saved layout maps it when
// the restoring program is the saved one. -1 leaves it alone.
int open_exe(const std::string& path) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    struct stat want, own;
    if (fd >= 0 && fstat(fd, &want) == 0 && stat("/proc/self/exe", &own) == 0 &&
        want.st_dev == own.st_dev && want.st_ino == own.st_ino) {
        close(fd);
        return -1;
    }
    return fd;
}

[[noreturn]] void jump(const StagedRestorer& staged) {
    asm volatile(
        "mov %0, %%rsp\n\t"
        "jmp *%1\n\t" ::"r"(staged.stack),
        "r"(staged.entry), "D"(staged.args)
        : "memory");
    __builtin_unreachable();
}

struct ChildFds {
    int sync_read, status_write;
};

[[noreturn]] void child_main(const image::Process& process, const std::string& pages_dir,
                             ChildFds fds) {
    char go;
    if (read(fds.sync_read, &go, 1) != 1) _exit(127);  // the caller went away
    auto run = [&]() -> Result<StagedRestorer> {
        CRIB_TRY(restore_task_basics(process.task));
        CRIB_TRY(restore_files(process.files, {&fds.sync_read, &fds.status_write}));
        close(fds.sync_read);
        StageFds stage_fds;
        stage_fds.close_fd = fds.status_write;
        stage_fds.exe_fd = open_exe(process.task.exe);
        auto staged = stage_address_space(process, pages_dir, stage_fds);
        if (!staged && stage_fds.exe_fd >= 0) close(stage_fds.exe_fd);
        if (!staged) return std::move(staged).error();
        CRIB_TRY(restore_rlimits(process.task));
        return staged;
    };
    auto staged = run();
    if (!staged) child_fail(fds.status_write, staged.error());
    char report[1 + 2 * sizeof(uint64_t)] = {'H'};
    std::memcpy(report + 1, &staged->hole_start, 8);
    std::memcpy(report + 9, &staged->hole_end, 8);
    write_all(fds.status_write, report, sizeof(report));
    unregister_rseq();
    jump(*staged);
}

pid_t clone_with_pid(pid_t pid) {
    clone_args args{};
    args.exit_signal = SIGCHLD;
    args.set_tid = reinterpret_cast<uint64_t>(&pid);
    args.set_tid_size = 1;
    return static_cast<pid_t>(syscall(SYS_clone3, &args, sizeof(args)));
}

class Pipe {
public:
    Result<void> open() {
        if (pipe2(m_ends, O_CLOEXEC) < 0)
            return make_error(errno, "cannot create a pipe: {}", strerror(errno));
        return {};
    }
    ~Pipe() {
        for (int fd : m_ends)
            if (fd >= 0) close(fd);
    }
    int read_end() const { return m_ends[0]; }
    int write_end() const { return m_ends[1]; }
    void close_read() { close(std::exchange(m_ends[0], -1)); }
    void close_write() { close(std::exchange(m_ends[1], -1)); }

private:
    int m_ends[2] = {-1, -1};
};

}  // namespace

Result<pid_t> restore_process(const std::string& dir, const RestoreOptions& options) {
    auto image = CRIB_TRY(image::read_core(dir));
    return restore_process(image, dir, options);
}

Result<pid_t> restore_process(const image::Image& image, const std::string& dir_for_pages,
                              const RestoreOptions& options) {
    const image::Process& process = image.process;
    utsname uts;
    if (options.log && !image.info.kernel_release.empty() && uname(&uts) == 0 &&
        image.info.kernel_release != uts.release)
        options.log(LogLevel::Warn, fmt::format("the image was dumped on Linux {}, this is {}",
                                                image.info.kernel_release, uts.release));
    if (process.threads.empty()) return make_error(EINVAL, "the image has no threads");
    if (process.threads[0].tid != process.task.pid)
        return make_error(EINVAL, "the image's first thread {} is not its leader {}",
                          process.threads[0].tid, process.task.pid);
    using Clock = std::chrono::steady_clock;
    auto ms_since = [](Clock::time_point t) {
        return std::chrono::duration<double, std::milli>(Clock::now() - t).count();
    };
    RestoreTimes times;
    auto started = Clock::now();
    CRIB_TRY(check_files(process));
    CRIB_TRY(check_pages(process, dir_for_pages));
    CRIB_TRY(check_special_mappings(process));
    CRIB_TRY(check_mapped_files(process, options.log));
    CRIB_TRY(wait_for_free_ids(process, options.pid_wait, options.log));
    times.checks_ms = ms_since(started);
    auto cloned = Clock::now();

    Pipe sync, status;
    CRIB_TRY(sync.open());
    CRIB_TRY(status.open());
    pid_t pid = clone_with_pid(process.task.pid);
    if (pid < 0) {
        int error = errno;
        const char* why = error == EEXIST  ? "it was taken meanwhile"
                          : error == EPERM ? "choosing a pid needs CAP_CHECKPOINT_RESTORE"
                                           : strerror(error);
        return make_error(error, "cannot create pid {}: {}", process.task.pid, why);
    }
    if (pid == 0) child_main(process, dir_for_pages, {sync.read_end(), status.write_end()});
    sync.close_read();
    status.close_write();
    fcntl(status.read_end(), F_SETFL, O_NONBLOCK);

    std::vector<pid_t> tids;
    for (const image::Thread& t : process.threads) tids.push_back(t.tid);
    auto tracer = Tracer::seize(pid, tids);
    if (!tracer) {
        ::kill(pid, SIGKILL);
        waitpid(pid, nullptr, __WALL);
        return std::move(tracer).error();
    }
    auto finish = [&]() -> Result<void> {
        if (write(sync.write_end(), "g", 1) != 1)
            return make_error(errno, "cannot start the restoring child: {}", strerror(errno));
        Hole hole = CRIB_TRY(tracer->wait_for_restorer(status.read_end(), kBuildLimit));
        times.build_ms = ms_since(cloned);
        auto finishing = Clock::now();
        CRIB_TRY(tracer->finish(process, hole));
        times.finish_ms = ms_since(finishing);
        return {};
    };
    if (auto done = finish(); !done) {
        tracer->kill_and_reap();
        return std::move(done).error();
    }
    times.total_ms = ms_since(started);
    if (options.log)
        options.log(LogLevel::Info,
                    fmt::format("restored pid {} with {} thread(s) in {:.1f} ms: checks {:.1f}, "
                                "files and memory {:.1f}, finish {:.1f}",
                                pid, process.threads.size(), times.total_ms, times.checks_ms,
                                times.build_ms, times.finish_ms));
    if (options.times) *options.times = times;
    return pid;
}

}  // namespace crib::restore
