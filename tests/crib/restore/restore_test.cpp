// crib restore on real processes: a child of the test is frozen and saved
// (snapshot.hpp), killed, and rebuilt under its pid; the tests check what the
// kernel shows of the restored process and what the process itself reports
// when it runs on.
#include "crib/restore/restore.hpp"

#include <grp.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <set>

#include "crib/restore/snapshot.hpp"

namespace crib::restore::test {
namespace {

SelfReport g_report;
volatile sig_atomic_t g_usr1 = 0;
volatile sig_atomic_t g_usr1_on_altstack = 0;
std::atomic<uint64_t> g_counters[kMaxThreads];
int g_report_fd = -1;

void on_usr1(int) {
    int local;
    uint64_t at = reinterpret_cast<uint64_t>(&local);
    uint64_t alt = reinterpret_cast<uint64_t>(g_report.threads[0].altstack.ss_sp);
    g_usr1_on_altstack = at >= alt && at < alt + g_report.threads[0].altstack.ss_size;
    g_usr1 = 1;
}

// Counters, one per thread, and whether the handler ran on the altstack.
struct Status {
    uint64_t counters[kMaxThreads];
    uint64_t monotonic_ns;  // read through the vdso
    itimerval real_timer;
    int on_altstack;
    uint64_t vector_rounds, vector_broken;
};

// A thread that lives in one loop of its own, never calling out, holding a
// value in xmm15 (only the saved FPU/SSE state keeps it) and counting the
// rounds it finds it intact; it stops for good once it is not.
std::atomic<uint64_t> g_vector_rounds{0}, g_vector_broken{0};
constexpr uint64_t kVectorMagic = 0x5ca1ab1e0ddba11ull;

void* vector_thread(void*) {
    report_thread(g_report, kMaxThreads - 1);
    uint64_t* rounds = reinterpret_cast<uint64_t*>(&g_vector_rounds);
    uint64_t* broken = reinterpret_cast<uint64_t*>(&g_vector_broken);
    asm volatile(
        "movq %[magic], %%xmm15\n"
        "1:\n\t"
        "movq %%xmm15, %%rax\n\t"
        "cmpq %[magic], %%rax\n\t"
        "jne 2f\n\t"
        "lock incq (%[rounds])\n\t"
        "pause\n\t"
        "jmp 1b\n"
        "2:\n\t"
        "movq $1, (%[broken])\n"
        "3:\n\t"
        "pause\n\t"
        "jmp 3b\n"
        :
        : [magic] "r"(kVectorMagic), [rounds] "r"(rounds), [broken] "r"(broken)
        : "rax", "xmm15", "memory");
    return nullptr;
}

void* spin_thread(void* arg) {
    int index = static_cast<int>(reinterpret_cast<intptr_t>(arg));
    report_thread(g_report, index);
    for (;;) {
        g_counters[index]++;
        usleep(200);
    }
}

// The looping child: SIGUSR1 (on an alternate stack) makes it report its
// counters; SIGUSR2 stays pending for its main thread, SIGWINCH for the
// process; its threads and its main loop count and sleep.
[[noreturn]] void looping_child(int threads) {
    static char altstack[64 * 1024];
    stack_t ss{altstack, 0, sizeof(altstack)};
    sigaltstack(&ss, nullptr);
    struct sigaction sa {};
    sa.sa_handler = on_usr1;
    sa.sa_flags = SA_RESTART | SA_ONSTACK;
    sigaction(SIGUSR1, &sa, nullptr);
    sigset_t blocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGUSR2);
    sigaddset(&blocked, SIGWINCH);
    sigprocmask(SIG_BLOCK, &blocked, nullptr);
    raise(SIGUSR2);
    kill(getpid(), SIGWINCH);
    report_process(g_report);
    report_thread(g_report, 0);
    for (int i = 1; i < threads; i++) {
        pthread_t t;
        pthread_create(&t, nullptr, spin_thread, reinterpret_cast<void*>(intptr_t{i}));
        while (g_report.threads[i].tid == 0) usleep(100);
    }
    uint64_t report_address = reinterpret_cast<uint64_t>(&g_report);
    if (write(g_report_fd, &report_address, 8) != 8) _exit(1);
    for (;;) {
        g_counters[0]++;
        if (g_usr1) {
            g_usr1 = 0;
            Status status{};
            for (int i = 0; i < kMaxThreads; i++) status.counters[i] = g_counters[i];
            status.on_altstack = g_usr1_on_altstack;
            status.vector_rounds = g_vector_rounds;
            status.vector_broken = g_vector_broken;
            timespec now;
            clock_gettime(CLOCK_MONOTONIC, &now);
            status.monotonic_ns = now.tv_sec * 1000000000ull + now.tv_nsec;
            getitimer(ITIMER_REAL, &status.real_timer);
            if (write(g_report_fd, &status, sizeof(status)) != sizeof(status)) _exit(1);
        }
        usleep(200);
    }
}

// The test binary run again as a looping child (exec gives it its own
// layout: vdso, stack, libraries elsewhere than in the restoring process).
constexpr const char* kChildEnv = "CRIB_RESTORE_TEST_CHILD";

__attribute__((constructor)) void run_as_child_when_asked() {
    const char* fd = std::getenv(kChildEnv);
    if (!fd) return;
    g_report_fd = std::atoi(fd);
    looping_child(2);
}

bool read_exact(int fd, void* out, size_t size) {
    auto* p = static_cast<char*>(out);
    while (size > 0) {
        pollfd pfd{fd, POLLIN, 0};
        if (poll(&pfd, 1, 10000) <= 0) return false;
        ssize_t n = read(fd, p, size);
        if (n <= 0) return false;
        p += n;
        size -= n;
    }
    return true;
}

class RestoreTest : public ::testing::Test {
protected:
    void SetUp() override {
        prctl(PR_SET_CHILD_SUBREAPER, 1);
        bool ci = std::getenv("CI") != nullptr;
        if (geteuid() != 0 && !ci) GTEST_SKIP() << "restore needs root (CAP_CHECKPOINT_RESTORE)";
#if defined(__SANITIZE_ADDRESS__)
        // The children here are copies of this test binary: their ASan
        // shadow (16 TiB of reserved address space) has no room to be
        // staged. The end-to-end tests restore plain workload programs.
        GTEST_SKIP() << "the test's children carry AddressSanitizer's shadow mappings";
#endif
        m_dir = std::filesystem::temp_directory_path() /
                ("crib-restore-test-" + std::to_string(getpid()) + "-" +
                 ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::create_directories(m_dir);
        int ends[2];
        ASSERT_EQ(pipe2(ends, O_CLOEXEC), 0);
        m_status_fd = ends[0];
        m_child_fd = ends[1];
    }
    void TearDown() override {
        for (pid_t pid : m_children) {
            kill(pid, SIGKILL);
            waitpid(pid, nullptr, __WALL);
        }
        if (m_status_fd >= 0) close(m_status_fd);
        if (m_child_fd >= 0) close(m_child_fd);
        std::filesystem::remove_all(m_dir);
    }

    // Forks the looping child; `setup` runs in it first (opening files).
    pid_t start_child(int threads, const std::function<void()>& setup = {}) {
        pid_t pid = fork();
        if (pid == 0) {
            g_report_fd = fcntl(m_child_fd, F_DUPFD, 10);
            if (setup) setup();
            looping_child(threads);
        }
        return started(pid);
    }

    // Runs a copy of the test binary as a looping child with two threads:
    // another executable than the restoring one, as with `crib restore`.
    pid_t exec_child() {
        std::string copy = (m_dir / "restore-test-child").string();
        std::filesystem::copy_file("/proc/self/exe", copy);
        pid_t pid = fork();
        if (pid == 0) {
            int fd = fcntl(m_child_fd, F_DUPFD, 10);
            setenv(kChildEnv, std::to_string(fd).c_str(), 1);
            execl(copy.c_str(), "restore-test-child", nullptr);
            _exit(127);
        }
        return started(pid);
    }

    pid_t started(pid_t pid) {
        m_children.push_back(pid);
        uint64_t address = 0;
        EXPECT_TRUE(read_exact(m_status_fd, &address, sizeof(address)));
        m_report = reinterpret_cast<const SelfReport*>(address);
        return pid;
    }

    Status ask(pid_t pid) {
        Status status{};
        kill(pid, SIGUSR1);
        EXPECT_TRUE(read_exact(m_status_fd, &status, sizeof(status))) << "no answer from " << pid;
        return status;
    }

    image::Process snapshot(pid_t pid) {
        auto process = snapshot_and_kill(pid, m_report, m_dir.string());
        std::erase(m_children, pid);
        return process;
    }

    Result<pid_t> restore(const image::Process& process, std::chrono::milliseconds wait = {},
                          RestoreTimes* times = nullptr) {
        RestoreOptions options;
        options.pid_wait = wait;
        options.times = times;
        auto pid = restore_process(image::Image{process, {}}, m_dir.string(), options);
        if (pid) m_children.push_back(*pid);
        return pid;
    }

    std::filesystem::path m_dir;
    int m_status_fd = -1, m_child_fd = -1;
    std::vector<pid_t> m_children;
    const SelfReport* m_report = nullptr;
};

std::string proc_file(pid_t pid, const std::string& name) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/" + name);
    return std::string((std::istreambuf_iterator<char>(in)), {});
}

uint64_t status_mask(pid_t pid, const std::string& key) {
    return std::stoull(field("/proc/" + std::to_string(pid) + "/status", key), nullptr, 16);
}

bool pid_free(pid_t pid) {
    return kill(pid, 0) != 0 && errno == ESRCH;
}

TEST_F(RestoreTest, ProcessRunsOnUnderItsPidWithItsThreadsMemoryFilesAndSignals) {
    std::string data = (m_dir / "data.txt").string();
    std::ofstream(data) << "0123456789abcdef";
    std::string fifo = (m_dir / "fifo").string();
    ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
    pid_t pid = start_child(3, [&] {
        // A FIFO it reads from, holding bytes nobody else will see.
        int ffd = open(fifo.c_str(), O_RDWR | O_NONBLOCK);
        if (write(ffd, "fifo!", 5) != 5) _exit(1);
        dup2(ffd, 26);
        close(ffd);
        int fd = open(data.c_str(), O_RDWR | O_APPEND);
        lseek(fd, 7, SEEK_SET);
        dup2(fd, 20);
        close(fd);
        int efd = eventfd(42, EFD_NONBLOCK);
        dup2(efd, 21);
        close(efd);
        int dfd = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        dup3(dfd, 22, O_CLOEXEC);
        close(dfd);
        // A pipe of its own with bytes in flight, the write end non-blocking.
        int ends[2];
        if (pipe(ends) != 0) _exit(1);
        dup2(ends[0], 23);
        dup2(ends[1], 24);
        dup2(ends[1], 25);
        close(ends[0]);
        close(ends[1]);
        fcntl(24, F_SETFL, O_NONBLOCK);
        std::string bytes(1000, 'x');
        for (size_t i = 0; i < bytes.size(); i++) bytes[i] = static_cast<char>('a' + i % 26);
        if (write(24, bytes.data(), bytes.size()) != 1000) _exit(1);
        // A reservation larger than this machine's memory, as language
        // runtimes make: it must not be staged as writable memory.
        if (mmap(nullptr, uint64_t{256} << 30, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) ==
            MAP_FAILED)
            _exit(1);
    });
    Status before = ask(pid);
    image::Process saved = snapshot(pid);
    ASSERT_EQ(saved.threads.size(), 3u);
    ASSERT_TRUE(pid_free(pid));

    auto restored = restore(saved);
    ASSERT_TRUE(restored) << restored.error().message();
    EXPECT_EQ(*restored, pid);

    // It runs on from where it was: counters carry on, every thread counts.
    Status first = ask(pid);
    usleep(20000);
    Status second = ask(pid);
    for (int i = 0; i < 3; i++) {
        EXPECT_GE(first.counters[i], before.counters[i]) << "thread " << i;
        EXPECT_GT(second.counters[i], first.counters[i]) << "thread " << i << " does not run";
    }
    EXPECT_EQ(second.on_altstack, 1) << "the SA_ONSTACK handler did not run on the saved altstack";
    EXPECT_GT(second.monotonic_ns, before.monotonic_ns);

    std::vector<pid_t> tids = task_ids(pid), saved_tids;
    for (const auto& t : saved.threads) saved_tids.push_back(t.tid);
    std::sort(tids.begin(), tids.end());
    std::sort(saved_tids.begin(), saved_tids.end());
    EXPECT_EQ(tids, saved_tids);

    // Every saved mapping is back at its address with its protection.
    std::string maps = proc_file(pid, "maps");
    for (const image::Vma& vma : saved.vmas) {
        if (vma.kind == image::VmaKind::Vsyscall) continue;
        bool found = false;
        std::istringstream lines(maps);
        for (std::string line; std::getline(lines, line);) {
            auto dash = line.find('-');
            uint64_t start = std::stoull(line.substr(0, dash), nullptr, 16);
            uint64_t end = std::stoull(line.substr(dash + 1), nullptr, 16);
            std::string perms = line.substr(line.find(' ') + 1, 3);
            std::string want = std::string(vma.prot & PROT_READ ? "r" : "-") +
                               (vma.prot & PROT_WRITE ? "w" : "-") +
                               (vma.prot & PROT_EXEC ? "x" : "-");
            if (start <= vma.start && vma.end <= end && perms == want) found = true;
        }
        EXPECT_TRUE(found) << std::hex << vma.start << "-" << vma.end << " " << vma.path
                           << " missing from\n"
                           << maps;
    }
    EXPECT_EQ(maps.find("rwxp"), std::string::npos) << "the restorer was left behind:\n" << maps;

    // Files: the same objects at the same numbers, offsets and flags; the
    // child's own pipe is a new one (23, 24 and 25 share it) holding the
    // bytes that were in flight.
    std::string base = "/proc/" + std::to_string(pid);
    std::string own_pipe = read_link(base + "/fd/23");
    EXPECT_TRUE(own_pipe.starts_with("pipe:[")) << own_pipe;
    EXPECT_EQ(read_link(base + "/fd/24"), own_pipe);
    EXPECT_EQ(read_link(base + "/fd/25"), own_pipe);
    for (const image::FileDesc& f : saved.files) {
        std::string fd = std::to_string(f.fd);
        if (f.fd < 23 || f.fd > 25) {
            EXPECT_EQ(read_link(base + "/fd/" + fd), f.path) << "fd " << f.fd;
        }
        EXPECT_EQ(std::stoull(field(base + "/fdinfo/" + fd, "pos:")), f.pos) << "fd " << f.fd;
        // open(2) adds O_LARGEFILE (the kernel's 0100000; glibc spells it 0 on
        // x86-64) where pipe(2) did not: the same description.
        constexpr unsigned long kLargeFile = 0100000;
        EXPECT_EQ(std::stoul(field(base + "/fdinfo/" + fd, "flags:"), nullptr, 8) & ~kLargeFile,
                  f.flags & ~kLargeFile)
            << "fd " << f.fd << " " << f.path;
    }
    EXPECT_EQ(std::stoull(field("/proc/" + std::to_string(pid) + "/fdinfo/21", "eventfd-count:"),
                          nullptr, 16),
              42u);

    int fifo_fd = open(fifo.c_str(), O_RDONLY | O_NONBLOCK);
    char fifo_bytes[16] = {};
    EXPECT_EQ(read(fifo_fd, fifo_bytes, sizeof(fifo_bytes)), 5);
    EXPECT_STREQ(fifo_bytes, "fifo!");
    close(fifo_fd);

    int in_flight = open((base + "/fd/23").c_str(), O_RDONLY | O_NONBLOCK);
    std::string bytes(2000, '\0');
    ssize_t got = read(in_flight, bytes.data(), bytes.size());
    close(in_flight);
    ASSERT_EQ(got, 1000);
    for (int i = 0; i < 1000; i++) ASSERT_EQ(bytes[i], 'a' + i % 26) << "byte " << i;

    // Signal state: masks and pending signals as saved.
    EXPECT_EQ(status_mask(pid, "SigBlk:\t"), saved.threads[0].blocked);
    EXPECT_TRUE(status_mask(pid, "ShdPnd:\t") & (1ull << (SIGWINCH - 1)));
    EXPECT_TRUE(status_mask(pid, "SigPnd:\t") & (1ull << (SIGUSR2 - 1)));
    EXPECT_EQ(read_link("/proc/" + std::to_string(pid) + "/cwd"), saved.task.cwd);
}

TEST_F(RestoreTest, AnotherProgramGetsItsExeAndTheVdsoAtItsSavedAddress) {
    pid_t pid = exec_child();
    Status before = ask(pid);
    image::Process saved = snapshot(pid);
    auto vdso = std::find_if(saved.vmas.begin(), saved.vmas.end(),
                             [](const image::Vma& v) { return v.kind == image::VmaKind::Vdso; });
    ASSERT_NE(vdso, saved.vmas.end());

    // This one goes through core.img.
    auto written = image::write_core(m_dir.string(), image::Image{saved, {}});
    ASSERT_TRUE(written) << written.error().message();
    auto restored = restore_process(m_dir.string(), {});
    ASSERT_TRUE(restored) << restored.error().message();
    m_children.push_back(*restored);
    Status after = ask(pid);
    EXPECT_GE(after.counters[0], before.counters[0]);
    EXPECT_GE(after.counters[1], before.counters[1]);
    EXPECT_GT(after.monotonic_ns, before.monotonic_ns) << "clock_gettime through the moved vdso";
    std::string maps = proc_file(pid, "maps");
    std::string line = fmt::format("{:x}-{:x}", vdso->start, vdso->end);
    EXPECT_NE(maps.find(line + " r-xp"), std::string::npos) << maps;
    EXPECT_EQ(read_link("/proc/" + std::to_string(pid) + "/exe"), saved.task.exe);
    for (pid_t tid : task_ids(pid))
        EXPECT_EQ(proc_file(pid, fmt::format("task/{}/comm", tid)), saved.task.comm + "\n");
}

TEST_F(RestoreTest, CredentialsAndTimersComeBackInEveryThread) {
    pid_t pid = start_child(2, [] {
        itimerval timer{{500, 0}, {400, 0}};
        setitimer(ITIMER_REAL, &timer, nullptr);
        gid_t group = 1001;
        if (setgroups(1, &group) || setresgid(1000, 1001, 1000) || setresuid(1000, 1000, 1002))
            _exit(1);
    });
    image::Process saved = snapshot(pid);
    auto restored = restore(saved);
    ASSERT_TRUE(restored) << restored.error().message();
    Status after = ask(pid);
    EXPECT_EQ(after.real_timer.it_interval.tv_sec, 500);
    EXPECT_GT(after.real_timer.it_value.tv_sec, 300);
    EXPECT_LE(after.real_timer.it_value.tv_sec, 400);
    for (pid_t tid : task_ids(pid)) {
        std::string status = fmt::format("/proc/{}/task/{}/status", pid, tid);
        EXPECT_EQ(field(status, "Uid:\t"), "1000\t1000\t1002\t1000") << "thread " << tid;
        EXPECT_EQ(field(status, "Gid:\t"), "1000\t1001\t1000\t1001") << "thread " << tid;
        EXPECT_EQ(field(status, "Groups:\t"), "1001 ") << "thread " << tid;
        EXPECT_EQ(field(status, "CapEff:\t"), "0000000000000000") << "thread " << tid;
    }
}

TEST_F(RestoreTest, CapabilitySetsComeBackInEveryThread) {
    constexpr int kBoot = 22, kNetRaw = 13;  // CAP_SYS_BOOT, CAP_NET_RAW
    pid_t pid = start_child(2, [] {
        __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
        __user_cap_data_struct caps[2]{};
        syscall(SYS_capget, &header, caps);
        caps[0].inheritable |= 1u << kNetRaw;
        if (syscall(SYS_capset, &header, caps) || prctl(PR_CAPBSET_DROP, kBoot) ||
            prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, kNetRaw, 0, 0))
            _exit(1);
    });
    image::Process saved = snapshot(pid);
    ASSERT_FALSE(saved.task.creds.cap_bounding & (1ull << kBoot));
    auto restored = restore(saved);
    ASSERT_TRUE(restored) << restored.error().message();
    ask(pid);
    for (pid_t tid : task_ids(pid)) {
        std::string status = fmt::format("/proc/{}/task/{}/status", pid, tid);
        EXPECT_EQ(std::stoull(field(status, "CapBnd:\t"), nullptr, 16),
                  saved.task.creds.cap_bounding)
            << "thread " << tid;
        EXPECT_EQ(std::stoull(field(status, "CapAmb:\t"), nullptr, 16), 1ull << kNetRaw)
            << "thread " << tid;
        EXPECT_EQ(std::stoull(field(status, "CapInh:\t"), nullptr, 16),
                  saved.task.creds.cap_inheritable)
            << "thread " << tid;
    }
}

TEST_F(RestoreTest, VectorRegistersComeBack) {
    pid_t pid = start_child(1, [] {
        pthread_t t;
        pthread_create(&t, nullptr, vector_thread, nullptr);
        while (g_report.threads[kMaxThreads - 1].tid == 0) usleep(100);
    });
    usleep(20000);
    Status before = ask(pid);
    ASSERT_GT(before.vector_rounds, 0u);
    image::Process saved = snapshot(pid);
    auto restored = restore(saved);
    ASSERT_TRUE(restored) << restored.error().message();
    usleep(20000);
    Status after = ask(pid);
    EXPECT_EQ(after.vector_broken, 0u) << "xmm15 lost its value in the restore";
    EXPECT_GT(after.vector_rounds, before.vector_rounds);
}

TEST_F(RestoreTest, FdNumbersAboveTheCallersLimitComeBack) {
    rlimit own;
    getrlimit(RLIMIT_NOFILE, &own);
    if (own.rlim_max < 4096) GTEST_SKIP() << "the hard RLIMIT_NOFILE is " << own.rlim_max;
    pid_t pid = start_child(1, [] {
        rlimit wide{4096, 4096};
        setrlimit(RLIMIT_NOFILE, &wide);
        int fd = open("/dev/null", O_RDONLY);
        dup2(fd, 3000);
        close(fd);
    });
    image::Process saved = snapshot(pid);
    rlimit narrow{1024, own.rlim_max};
    setrlimit(RLIMIT_NOFILE, &narrow);
    auto restored = restore(saved);
    setrlimit(RLIMIT_NOFILE, &own);
    ASSERT_TRUE(restored) << restored.error().message();
    EXPECT_EQ(read_link(fmt::format("/proc/{}/fd/3000", pid)), "/dev/null");
    rlimit theirs;
    ASSERT_EQ(prlimit(pid, RLIMIT_NOFILE, nullptr, &theirs), 0);
    EXPECT_EQ(theirs.rlim_cur, 4096u);
    EXPECT_GT(ask(pid).counters[0], 0u);
}

// Whether each page of [start, start+size) of PID is present (pagemap bit 63).
std::vector<bool> pages_present(pid_t pid, uint64_t start, uint64_t size) {
    int fd = open(fmt::format("/proc/{}/pagemap", pid).c_str(), O_RDONLY | O_CLOEXEC);
    std::vector<uint64_t> entries(size / image::kPageSize);
    EXPECT_EQ(pread(fd, entries.data(), entries.size() * 8, start / image::kPageSize * 8),
              static_cast<ssize_t>(entries.size() * 8));
    close(fd);
    std::vector<bool> present;
    for (uint64_t entry : entries) present.push_back(entry >> 63);
    return present;
}

// Puts FILE into the page cache or out of it (written back first), so that
// a restore takes the path it takes with a cached or a cold pages.img.
void set_page_cache(const std::filesystem::path& file, bool cached) {
    int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0) << file;
    if (cached) {
        std::vector<char> buffer(1 << 20);
        while (read(fd, buffer.data(), buffer.size()) > 0) {
        }
    } else {
        fdatasync(fd);
        posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    }
    close(fd);
}

// Saved memory with holes in it, cut into runs of all sizes, in a mapping
// that does not start on a 2 MiB boundary (staging keeps its offset into a
// huge page): each saved page comes back with its bytes, each page left out
// stays absent (reads as zeros), with pages.img in the page cache or not.
TEST_F(RestoreTest, SparseMemoryComesBackByteForByteWithItsHolesAbsent) {
    constexpr uint64_t kMiB = 1 << 20, kHuge = 2 * kMiB, kPage = image::kPageSize;
    // Reserved here before the fork so the test knows the address; the
    // child makes the middle of it a mapping of its own and fills it.
    const uint64_t reserve = 24 * kMiB, size = 12 * kMiB;
    void* base = mmap(nullptr, reserve, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(base, MAP_FAILED);
    const uint64_t boundary = (reinterpret_cast<uint64_t>(base) + 2 * kHuge) & ~(kHuge - 1);
    const uint64_t start = boundary - 3 * kPage;  // three pages before a huge page
    auto word = [](uint64_t address) { return address * 0x9e3779b97f4a7c15ull; };
    pid_t pid = start_child(1, [&] {
        if (mprotect(reinterpret_cast<void*>(start), size, PROT_READ | PROT_WRITE) != 0) _exit(1);
        for (uint64_t a = start; a < start + size; a += 8)
            *reinterpret_cast<uint64_t*>(a) = word(a);
    });
    munmap(base, reserve);
    image::Process saved = snapshot(pid);
    auto vma = std::find_if(saved.vmas.begin(), saved.vmas.end(),
                            [&](const image::Vma& v) { return v.start == start; });
    ASSERT_NE(vma, saved.vmas.end());
    ASSERT_EQ(vma->end, start + size);
    ASSERT_EQ(vma->pages.size(), 1u);
    const image::PageRun whole = vma->pages[0];

    // Cut the one saved run into runs with holes between them, each run's
    // bytes where they were in pages.img, checksummed anew.
    std::ifstream in(m_dir / "pages.img", std::ios::binary);
    const std::string file((std::istreambuf_iterator<char>(in)), {});
    std::vector<image::PageRun> runs;
    auto keep = [&](uint64_t from, uint64_t to) {
        uint64_t offset = whole.file_offset + (from - start);
        runs.push_back({from, to - from, offset, image::page_checksum(&file[offset], to - from)});
    };
    keep(start, boundary + 2 * kHuge);  // across a 2 MiB boundary
    keep(boundary + 2 * kHuge + 2 * kPage, boundary + 3 * kHuge);
    keep(boundary + 3 * kHuge, boundary + 3 * kHuge + kMiB);  // right after the one before
    keep(boundary + 4 * kHuge, boundary + 4 * kHuge + kMiB);
    keep(boundary + 4 * kHuge + kMiB, boundary + 5 * kHuge);
    keep(start + size - kPage, start + size);  // the last page alone
    vma->pages = runs;
    auto saved_at = [&](uint64_t address) {
        return std::any_of(runs.begin(), runs.end(), [&](const image::PageRun& r) {
            return address >= r.address && address < r.address + r.length;
        });
    };

    // pages.img in the page cache, and out of it (read as it is copied).
    for (bool cached : {true, false}) {
        SCOPED_TRACE(cached ? "pages.img in the page cache" : "pages.img on the disk only");
        set_page_cache(m_dir / "pages.img", cached);
        RestoreTimes times;
        auto restored = restore(saved, {}, &times);
        ASSERT_TRUE(restored) << restored.error().message();
        EXPECT_GT(ask(pid).counters[0], 0u);
        EXPECT_GE(times.total_ms, times.checks_ms + times.build_ms + times.finish_ms);

        std::vector<bool> present = pages_present(pid, start, size);
        uint64_t wrong_presence = 0;
        for (uint64_t i = 0; i < present.size(); i++)
            wrong_presence += present[i] != saved_at(start + i * kPage);
        EXPECT_EQ(wrong_presence, 0u) << "pages present where nothing was saved, or missing";

        std::vector<uint64_t> bytes(size / 8);
        int mem = open(fmt::format("/proc/{}/mem", pid).c_str(), O_RDONLY | O_CLOEXEC);
        ASSERT_EQ(pread(mem, bytes.data(), size, start), static_cast<ssize_t>(size));
        close(mem);
        uint64_t wrong_words = 0;
        for (uint64_t i = 0; i < bytes.size(); i++) {
            uint64_t address = start + i * 8;
            wrong_words += bytes[i] != (saved_at(address) ? word(address) : 0);
        }
        EXPECT_EQ(wrong_words, 0u);

        kill(pid, SIGKILL);
        waitpid(pid, nullptr, __WALL);
        std::erase(m_children, pid);
    }
}

// Failures: refused before anything runs, nothing left behind.
class RestoreRefusalTest : public RestoreTest {
protected:
    void SetUp() override {
        RestoreTest::SetUp();
        if (IsSkipped()) return;
        std::string data = (m_dir / "data.txt").string();
        std::ofstream(data) << "data";
        m_data = data;
        m_pid = start_child(1, [data] {
            int fd = open(data.c_str(), O_RDONLY);
            dup2(fd, 20);
            close(fd);
        });
        m_saved = snapshot(m_pid);
    }
    void expect_nothing_left() {
        EXPECT_TRUE(pid_free(m_pid)) << "pid " << m_pid << " is in use after a failed restore";
        int status;
        EXPECT_EQ(waitpid(-1, &status, __WALL | WNOHANG), -1) << "a child was left behind";
    }

    std::string m_data;
    pid_t m_pid = 0;
    image::Process m_saved;
};

TEST_F(RestoreRefusalTest, PidTakenIsRefusedNamingTheHolder) {
    pid_t holder = fork();
    if (holder == 0) {
        prctl(PR_SET_NAME, "pid-holder");
        pause();
        _exit(0);
    }
    m_children.push_back(holder);
    usleep(20000);
    image::Process clash = m_saved;
    clash.task.pid = clash.threads[0].tid = holder;
    auto start = std::chrono::steady_clock::now();
    auto restored = restore(clash, std::chrono::milliseconds(300));
    ASSERT_FALSE(restored);
    EXPECT_EQ(restored.error().code(), EBUSY);
    EXPECT_NE(restored.error().message().find(fmt::format("pid {} is taken by pid-holder", holder)),
              std::string::npos)
        << restored.error().message();
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(300));
    EXPECT_EQ(kill(holder, 0), 0);
}

TEST_F(RestoreRefusalTest, MissingFileIsRefusedBeforeAnythingRuns) {
    std::filesystem::remove(m_data);
    auto restored = restore(m_saved);
    ASSERT_FALSE(restored);
    EXPECT_EQ(restored.error().code(), ENOENT);
    EXPECT_NE(restored.error().message().find("fd 20: regular file '" + m_data + "' is missing"),
              std::string::npos)
        << restored.error().message();
    expect_nothing_left();
}

TEST_F(RestoreRefusalTest, DeletedMappedFileIsRefusedBeforeAnythingRuns) {
    auto file = std::find_if(m_saved.vmas.begin(), m_saved.vmas.end(),
                             [](const image::Vma& v) { return v.kind == image::VmaKind::File; });
    ASSERT_NE(file, m_saved.vmas.end());
    file->path = "/memfd:jit (deleted)";
    auto restored = restore(m_saved);
    ASSERT_FALSE(restored);
    EXPECT_EQ(restored.error().code(), ENOENT);
    EXPECT_NE(restored.error().message().find("file '/memfd:jit (deleted)' cannot be mapped again"),
              std::string::npos)
        << restored.error().message();
    expect_nothing_left();
}

TEST_F(RestoreRefusalTest, UnsupportedFileIsRefused) {
    m_saved.files.push_back({});
    m_saved.files.back().fd = 30;
    m_saved.files.back().kind = image::FileKind::Unsupported;
    m_saved.files.back().path = "socket:[1234]";
    auto restored = restore(m_saved);
    ASSERT_FALSE(restored);
    EXPECT_NE(restored.error().message().find("fd 30: unsupported file 'socket:[1234]'"),
              std::string::npos)
        << restored.error().message();
    expect_nothing_left();
}

TEST_F(RestoreRefusalTest, TruncatedPagesAreRefused) {
    auto pages = m_dir / "pages.img";
    std::filesystem::resize_file(pages, std::filesystem::file_size(pages) - image::kPageSize);
    auto restored = restore(m_saved);
    ASSERT_FALSE(restored);
    EXPECT_NE(restored.error().message().find("pages.img"), std::string::npos)
        << restored.error().message();
    expect_nothing_left();
}

TEST_F(RestoreRefusalTest, CorruptPagesFailTheRestoreWithNothingLeft) {
    const image::PageRun& run = m_saved.vmas[0].pages.at(0);
    std::fstream pages(m_dir / "pages.img", std::ios::in | std::ios::out | std::ios::binary);
    pages.seekg(run.file_offset);
    char byte = static_cast<char>(pages.get() ^ 0x5a);
    pages.seekp(run.file_offset);
    pages.put(byte);
    pages.close();
    auto restored = restore(m_saved);
    ASSERT_FALSE(restored);
    EXPECT_EQ(restored.error().code(), EBADMSG);
    EXPECT_NE(restored.error().message().find(
                  fmt::format("pages.img: offset {:#x}: checksum mismatch", run.file_offset)),
              std::string::npos)
        << restored.error().message();
    expect_nothing_left();
}

TEST_F(RestoreRefusalTest, CorruptLastPageFailsTheRestoreWithNothingLeft) {
    // The last byte the child reads, with pages.img in the page cache or not.
    const image::PageRun* last = nullptr;
    for (const image::Vma& vma : m_saved.vmas)
        for (const image::PageRun& run : vma.pages)
            if (!last || run.file_offset > last->file_offset) last = &run;
    ASSERT_NE(last, nullptr);
    std::fstream pages(m_dir / "pages.img", std::ios::in | std::ios::out | std::ios::binary);
    pages.seekg(last->file_offset + last->length - 1);
    char byte = static_cast<char>(pages.get() ^ 0x01);
    pages.seekp(last->file_offset + last->length - 1);
    pages.put(byte);
    pages.close();
    for (bool cached : {true, false}) {
        SCOPED_TRACE(cached ? "pages.img in the page cache" : "pages.img on the disk only");
        set_page_cache(m_dir / "pages.img", cached);
        auto restored = restore(m_saved);
        ASSERT_FALSE(restored);
        EXPECT_EQ(restored.error().code(), EBADMSG);
        EXPECT_NE(restored.error().message().find(
                      fmt::format("pages.img: offset {:#x}: checksum mismatch", last->file_offset)),
                  std::string::npos)
            << restored.error().message();
        expect_nothing_left();
    }
}

}  // namespace
}  // namespace crib::restore::test
