// The procfs collector and the ptrace state on a real child that set every
// field itself: each collected value is checked against what the child did,
// then the child checks, after thaw, that collecting changed nothing.
#include <elf.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <pthread.h>
#include <signal.h>
#include <sys/auxv.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/rseq.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/user.h>

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstring>
#include <sstream>
#include <thread>

#include "crib/proc/child.hpp"
#include "crib/proc/freezer.hpp"
#include "crib/proc/procfs_collector.hpp"
#include "crib/proc/ptrace_state.hpp"

namespace crib::proc {
namespace {

using test::Channel;
using test::Child;

// Fixed fd numbers the child puts its files at.
constexpr int kAppendFd = 50, kCloexecFd = 51, kDirFd = 52, kNullFd = 53, kPipeReadFd = 54,
              kPipeWriteFd = 55, kEventFd = 56;
constexpr size_t kPipeBytes = 1000;
constexpr uint64_t kR12 = 0x1122334455667788;
constexpr uint8_t kXmmByte = 0x5a;
constexpr uint64_t kSecond = 1000000;
constexpr size_t kPage = 4096;

// Globals keep their addresses across fork: the test knows where the child's are.
char g_altstack[65536];
uint32_t g_tid_marker;
std::atomic<uint64_t>* g_spins;
int g_wake_pipe[2];
std::string g_file_path;

void on_usr1(int, siginfo_t*, void*) {}

uint8_t pipe_byte(size_t i) {
    return static_cast<uint8_t>(i * 7 + 3);
}

void put_fd(int fd, int at, int flags = 0) {
    if (fd < 0 || dup3(fd, at, flags) != at) _exit(10);
    if (fd != at) close(fd);
}

[[noreturn]] void spin_with_marked_registers() {
    alignas(16) uint8_t pattern[16];
    std::memset(pattern, kXmmByte, sizeof(pattern));
    asm volatile(
        "movq %0, %%r12\n"
        "movdqu (%1), %%xmm0\n"
        "1: lock incq (%2)\n"
        "jmp 1b\n" ::"r"(kR12),
        "r"(pattern), "r"(g_spins)
        : "r12", "xmm0", "memory");
    __builtin_unreachable();
}

// Checks, after thaw, that the state collected is still in place and that
// nothing was consumed; answers "ok" or what differs.
std::string self_check() {
    std::ostringstream problems;
    mode_t mask = umask(0);
    umask(mask);
    if (mask != 027) problems << "umask " << mask << "; ";
    stack_t stack{};
    sigaltstack(nullptr, &stack);
    if (stack.ss_sp != g_altstack || stack.ss_size != sizeof(g_altstack)) problems << "altstack; ";
    struct sigaction action {};
    sigaction(SIGUSR1, nullptr, &action);
    if (action.sa_sigaction != on_usr1) problems << "SIGUSR1 handler; ";
    itimerval timer{};
    getitimer(ITIMER_REAL, &timer);
    if (timer.it_interval.tv_sec != 100 || timer.it_value.tv_sec == 0) problems << "itimer; ";
    sigset_t pending;
    sigpending(&pending);
    if (!sigismember(&pending, SIGUSR1) || !sigismember(&pending, SIGUSR2))
        problems << "pending signals; ";
    uint8_t data[kPipeBytes + 1];
    ssize_t got = read(kPipeReadFd, data, sizeof(data));
    if (got != static_cast<ssize_t>(kPipeBytes)) problems << "pipe holds " << got << "; ";
    for (size_t i = 0; i < kPipeBytes && got > 0; i++)
        if (data[i] != pipe_byte(i)) {
            problems << "pipe byte " << i << "; ";
            break;
        }
    eventfd_t count = 0;
    if (eventfd_read(kEventFd, &count) != 0 || count != 1) problems << "eventfd; ";
    std::string text = problems.str();
    return text.empty() ? "ok" : text;
}

// The child: every piece of state the collectors read, set by itself.
void rich_child(const Channel& channel) {
    prctl(PR_SET_NAME, "crib-collect");
    if (chdir("/tmp") != 0 || setpgid(0, 0) != 0) _exit(11);
    umask(027);
    personality(ADDR_NO_RANDOMIZE);
    rlimit files{200, 300};
    setrlimit(RLIMIT_NOFILE, &files);

    struct sigaction action {};
    action.sa_sigaction = on_usr1;
    action.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&action.sa_mask);
    sigaddset(&action.sa_mask, SIGUSR2);
    sigaction(SIGUSR1, &action, nullptr);
    signal(SIGTERM, SIG_IGN);
    stack_t stack{g_altstack, 0, sizeof(g_altstack)};
    sigaltstack(&stack, nullptr);
    // Blocked before any thread starts, so all inherit the mask and both
    // signals stay queued: SIGUSR1 for the leader, SIGUSR2 for the process.
    sigset_t blocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGUSR1);
    sigaddset(&blocked, SIGUSR2);
    sigprocmask(SIG_BLOCK, &blocked, nullptr);
    raise(SIGUSR1);
    sigqueue(getpid(), SIGUSR2, sigval{7});
    itimerval real{{100, 0}, {50, 0}}, prof{{30, 0}, {40, 0}};
    setitimer(ITIMER_REAL, &real, nullptr);
    setitimer(ITIMER_PROF, &prof, nullptr);

    put_fd(open(g_file_path.c_str(), O_RDWR | O_APPEND), kAppendFd);
    lseek(kAppendFd, 37, SEEK_SET);
    put_fd(open(g_file_path.c_str(), O_RDONLY | O_CLOEXEC), kCloexecFd, O_CLOEXEC);
    lseek(kCloexecFd, 100, SEEK_SET);
    put_fd(open("/tmp", O_RDONLY | O_DIRECTORY), kDirFd);
    put_fd(open("/dev/null", O_RDWR), kNullFd);
    int ends[2];
    if (pipe(ends) != 0) _exit(12);
    put_fd(ends[0], kPipeReadFd);
    put_fd(ends[1], kPipeWriteFd);
    uint8_t data[kPipeBytes];
    for (size_t i = 0; i < kPipeBytes; i++) data[i] = pipe_byte(i);
    if (write(kPipeWriteFd, data, sizeof(data)) != static_cast<ssize_t>(sizeof(data))) _exit(13);
    put_fd(eventfd(42, EFD_NONBLOCK | EFD_SEMAPHORE), kEventFd);

    void* brk_before = sbrk(8192);
    void* anon =
        mmap(nullptr, 3 * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    void* shared = mmap(nullptr, 2 * kPage, PROT_READ, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    void* file = mmap(nullptr, kPage, PROT_READ, MAP_PRIVATE, kCloexecFd, kPage);
    void* down = mmap(nullptr, 4 * kPage, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN, -1, 0);
    if (brk_before == reinterpret_cast<void*>(-1) || anon == MAP_FAILED || shared == MAP_FAILED ||
        file == MAP_FAILED || down == MAP_FAILED)
        _exit(15);

    static const Channel* out = &channel;
    static std::atomic<long> tids[3];
    std::thread([] {
        tids[0] = syscall(SYS_gettid);
        syscall(SYS_set_tid_address, &g_tid_marker);
        // Sanitizers give each thread an altstack of their own: this one has none.
        stack_t none{nullptr, SS_DISABLE, 0};
        sigaltstack(&none, nullptr);
        char byte = 0;
        ssize_t got = read(g_wake_pipe[0], &byte, 1);
        out->send(fmt::format("woke {} {}", got, byte));
        pause();
    }).detach();
    std::thread([] {
        tids[1] = syscall(SYS_gettid);
        spin_with_marked_registers();
    }).detach();
    std::thread([] {
        tids[2] = syscall(SYS_gettid);
        timespec ten{10, 0};
        clock_nanosleep(CLOCK_MONOTONIC, 0, &ten, nullptr);
        pause();
    }).detach();
    while (tids[0] == 0 || tids[1] == 0 || tids[2] == 0) usleep(1000);
    auto* rseq = static_cast<char*>(__builtin_thread_pointer()) + __rseq_offset;
    channel.send(fmt::format("ready {} {} {} {} {} {} {} {} {}", tids[0].load(), tids[1].load(),
                             tids[2].load(), reinterpret_cast<uintptr_t>(sbrk(0)),
                             reinterpret_cast<uintptr_t>(anon), reinterpret_cast<uintptr_t>(shared),
                             reinterpret_cast<uintptr_t>(file), reinterpret_cast<uintptr_t>(down),
                             __rseq_size ? reinterpret_cast<uintptr_t>(rseq) : 0));
    // Blocked in a plain read(2), so the test knows the syscall it interrupts.
    for (;;) {
        char command = 0;
        if (read(channel.in_fd(), &command, 1) != 1) _exit(0);
        if (command == 'c') channel.send(self_check());
    }
}

uint64_t reg(const image::Thread& thread, size_t offset) {
    return thread.regs[offset / 8];
}

std::array<uint8_t, 2> bytes_at(pid_t pid, uint64_t address) {
    std::array<uint8_t, 2> bytes{};
    auto mem = fmt::format("/proc/{}/mem", pid);
    int fd = open(mem.c_str(), O_RDONLY);
    EXPECT_EQ(pread(fd, bytes.data(), bytes.size(), static_cast<off_t>(address)), 2);
    close(fd);
    return bytes;
}

siginfo_t as_siginfo(const image::PendingSignal& signal) {
    siginfo_t info{};
    std::memcpy(&info, signal.siginfo.data(), sizeof(info));
    return info;
}

const image::Vma* vma_at(const image::Process& process, uint64_t start) {
    for (const image::Vma& vma : process.vmas)
        if (vma.start == start) return &vma;
    return nullptr;
}

const image::Vma* vma_named(const image::Process& process, std::string_view name) {
    for (const image::Vma& vma : process.vmas)
        if (vma.path == name) return &vma;
    return nullptr;
}

const image::FileDesc* file_at(const image::Process& process, int fd) {
    for (const image::FileDesc& file : process.files)
        if (file.fd == fd) return &file;
    return nullptr;
}

class CollectorTest : public ::testing::Test {
protected:
    void SetUp() override {
        static std::atomic<uint64_t>* spins = [] {
            void* mem =
                mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
            return new (mem) std::atomic<uint64_t>(0);
        }();
        g_spins = spins;
        char path[] = "/tmp/crib-proc-collect-XXXXXX";
        int fd = mkstemp(path);
        ASSERT_GE(fd, 0);
        std::vector<char> contents(8192, 'x');
        ASSERT_EQ(write(fd, contents.data(), contents.size()), 8192);
        close(fd);
        g_file_path = path;
        ASSERT_EQ(pipe(g_wake_pipe), 0);
    }
    void TearDown() override {
        unlink(g_file_path.c_str());
        close(g_wake_pipe[0]);
        close(g_wake_pipe[1]);
    }
};

struct Ready {
    pid_t waker = 0, spinner = 0, sleeper = 0;
    uint64_t brk = 0, anon = 0, shared = 0, file = 0, down = 0, rseq = 0;
};

Ready parse_ready(const std::string& line) {
    std::istringstream in(line);
    std::string word;
    Ready ready;
    in >> word >> ready.waker >> ready.spinner >> ready.sleeper >> ready.brk >> ready.anon >>
        ready.shared >> ready.file >> ready.down >> ready.rseq;
    EXPECT_EQ(word, "ready") << line;
    return ready;
}

TEST_F(CollectorTest, CollectsWhatTheChildSetAndChangesNothing) {
    Child child(rich_child);
    Ready ready = parse_ready(child.receive());
    ASSERT_NE(ready.waker, 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // all blocked or spinning

    auto frozen = Freezer::freeze(child.pid());
    if (!frozen && frozen.error().code() == EPERM && !test::in_ci())
        GTEST_SKIP() << frozen.error().message();
    ASSERT_TRUE(frozen) << frozen.error().message();
    const Freezer& freezer = **frozen;

    image::Process before;
    ASSERT_TRUE(collect_ptrace_state(freezer, before));
    image::Process process;
    auto collected = collect_procfs(freezer, process);
    ASSERT_TRUE(collected) << collected.error().message();
    auto ptraced = collect_ptrace_state(freezer, process);
    ASSERT_TRUE(ptraced) << ptraced.error().message();
    std::array<uint8_t, 2> leader_insn =
        bytes_at(child.pid(), process.threads[0].regs[offsetof(user_regs_struct, rip) / 8]);
    uint64_t spins = g_spins->load();

    // Injected syscalls left every thread as frozen.
    ASSERT_EQ(before.threads.size(), process.threads.size());
    for (size_t i = 0; i < before.threads.size(); i++) {
        const image::Thread& a = before.threads[i];
        const image::Thread& b = process.threads[i];
        EXPECT_EQ(a.regs, b.regs) << "thread " << a.tid;
        EXPECT_EQ(a.xstate, b.xstate) << "thread " << a.tid;
        EXPECT_EQ(a.blocked, b.blocked) << "thread " << a.tid;
        EXPECT_EQ(a.pending, b.pending) << "thread " << a.tid;
        EXPECT_EQ(a.rseq, b.rseq) << "thread " << a.tid;
    }
    EXPECT_EQ(before.task.shared_pending, process.task.shared_pending);

    const image::Task& task = process.task;
    EXPECT_EQ(task.pid, child.pid());
    EXPECT_EQ(task.ppid, getpid());
    EXPECT_EQ(task.pgid, child.pid());
    EXPECT_EQ(task.sid, getsid(0));
    EXPECT_EQ(task.comm, "crib-collect");
    char exe[4096] = {};
    ASSERT_GT(readlink("/proc/self/exe", exe, sizeof(exe) - 1), 0);
    EXPECT_EQ(task.exe, exe);
    EXPECT_EQ(task.cwd, "/tmp");
    EXPECT_EQ(task.root, "/");
    EXPECT_EQ(task.umask, 027u);
    EXPECT_EQ(task.personality, static_cast<uint32_t>(ADDR_NO_RANDOMIZE));

    EXPECT_EQ(task.creds.uids,
              (std::array<uint32_t, 4>{getuid(), geteuid(), geteuid(), geteuid()}));
    EXPECT_EQ(task.creds.gids,
              (std::array<uint32_t, 4>{getgid(), getegid(), getegid(), getegid()}));
    std::vector<gid_t> groups(static_cast<size_t>(getgroups(0, nullptr)));
    getgroups(static_cast<int>(groups.size()), groups.data());
    EXPECT_EQ(task.creds.groups, std::vector<uint32_t>(groups.begin(), groups.end()));
    __user_cap_header_struct cap_header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct caps[2]{};
    ASSERT_EQ(syscall(SYS_capget, &cap_header, caps), 0);
    EXPECT_EQ(task.creds.cap_effective, caps[0].effective | uint64_t{caps[1].effective} << 32);
    EXPECT_EQ(task.creds.cap_permitted, caps[0].permitted | uint64_t{caps[1].permitted} << 32);

    EXPECT_EQ(task.rlimits[RLIMIT_NOFILE], (image::Rlimit{200, 300}));
    rlimit stack_limit{};
    getrlimit(RLIMIT_STACK, &stack_limit);
    EXPECT_EQ(task.rlimits[RLIMIT_STACK],
              (image::Rlimit{stack_limit.rlim_cur, stack_limit.rlim_max}));

    const image::SigAction& usr1 = task.sigactions[SIGUSR1 - 1];
    EXPECT_EQ(usr1.handler, reinterpret_cast<uint64_t>(&on_usr1));
    EXPECT_EQ(usr1.flags & (SA_SIGINFO | SA_RESTART), uint64_t{SA_SIGINFO | SA_RESTART});
    EXPECT_NE(usr1.restorer, 0u);
    EXPECT_EQ(usr1.mask, uint64_t{1} << (SIGUSR2 - 1));
    EXPECT_EQ(task.sigactions[SIGTERM - 1].handler, reinterpret_cast<uint64_t>(SIG_IGN));
    EXPECT_EQ(task.sigactions[SIGHUP - 1], image::SigAction{});
    EXPECT_EQ(task.sigactions[SIGKILL - 1], image::SigAction{});

    EXPECT_EQ(task.itimers[ITIMER_REAL].interval_us, 100 * kSecond);
    EXPECT_LE(task.itimers[ITIMER_REAL].value_us, 50 * kSecond);
    EXPECT_GT(task.itimers[ITIMER_REAL].value_us, 40 * kSecond);
    EXPECT_EQ(task.itimers[ITIMER_VIRTUAL], image::Itimer{});
    EXPECT_EQ(task.itimers[ITIMER_PROF].interval_us, 30 * kSecond);
    EXPECT_LE(task.itimers[ITIMER_PROF].value_us, 40 * kSecond);
    EXPECT_GT(task.itimers[ITIMER_PROF].value_us, 30 * kSecond);

    ASSERT_EQ(task.shared_pending.size(), 1u);
    siginfo_t queued = as_siginfo(task.shared_pending[0]);
    EXPECT_EQ(queued.si_signo, SIGUSR2);
    EXPECT_EQ(queued.si_code, SI_QUEUE);
    EXPECT_EQ(queued.si_value.sival_int, 7);

    const image::MmLayout& mm = task.mm;
    EXPECT_EQ(mm.brk, ready.brk);
    EXPECT_LE(mm.start_brk, mm.brk);
    EXPECT_LT(mm.start_code, mm.end_code);
    EXPECT_LE(mm.arg_start, mm.arg_end);
    EXPECT_LE(mm.env_start, mm.env_end);
    EXPECT_NE(mm.start_stack, 0u);
    ASSERT_GE(mm.auxv.size(), 4u);
    EXPECT_EQ(mm.auxv.size() % 2, 0u);
    EXPECT_EQ(mm.auxv[mm.auxv.size() - 2], uint64_t{AT_NULL});
    bool saw_entry = false;
    for (size_t i = 0; i + 1 < mm.auxv.size(); i += 2)
        if (mm.auxv[i] == AT_ENTRY) saw_entry = mm.auxv[i + 1] == getauxval(AT_ENTRY);
    EXPECT_TRUE(saw_entry);

    // Threads: leader first, then ascending tids.
    std::vector<pid_t> tids{ready.waker, ready.spinner, ready.sleeper};
    std::sort(tids.begin(), tids.end());
    tids.insert(tids.begin(), child.pid());
    ASSERT_EQ(process.threads.size(), 4u);
    auto thread = [&](pid_t tid) -> const image::Thread& {
        return *std::find_if(process.threads.begin(), process.threads.end(),
                             [&](const image::Thread& t) { return t.tid == tid; });
    };
    for (size_t i = 0; i < tids.size(); i++) EXPECT_EQ(process.threads[i].tid, tids[i]);

    const image::Thread& leader = process.threads[0];
    EXPECT_EQ(leader.altstack,
              (image::SigAltStack{reinterpret_cast<uint64_t>(g_altstack), sizeof(g_altstack), 0}));
    EXPECT_EQ(thread(ready.waker).altstack, image::SigAltStack{});
    EXPECT_EQ(thread(ready.waker).clear_child_tid, reinterpret_cast<uint64_t>(&g_tid_marker));
    EXPECT_NE(thread(ready.spinner).clear_child_tid, 0u);  // pthread's own tid field
    uint64_t sigusr = (uint64_t{1} << (SIGUSR1 - 1)) | (uint64_t{1} << (SIGUSR2 - 1));
    for (const image::Thread& t : process.threads) EXPECT_EQ(t.blocked, sigusr) << t.tid;
    ASSERT_EQ(leader.pending.size(), 1u);
    EXPECT_EQ(as_siginfo(leader.pending[0]).si_signo, SIGUSR1);
    EXPECT_EQ(as_siginfo(leader.pending[0]).si_code, SI_TKILL);
    EXPECT_TRUE(thread(ready.spinner).pending.empty());
    if (ready.rseq) {
        EXPECT_EQ(leader.rseq.address, ready.rseq);
        EXPECT_EQ(leader.rseq.signature, 0x53053053u);
        EXPECT_GE(leader.rseq.length, 32u);
    }

    // The leader was in read(2): rewound to issue it again.
    EXPECT_EQ(reg(leader, offsetof(user_regs_struct, rax)), uint64_t{SYS_read});
    EXPECT_EQ(reg(leader, offsetof(user_regs_struct, orig_rax)), ~uint64_t{0});
    EXPECT_EQ(leader_insn, (std::array<uint8_t, 2>{0x0f, 0x05}));
    // The sleeper's clock_nanosleep restarts through a restart block: -EINTR.
    const image::Thread& sleeper = thread(ready.sleeper);
    EXPECT_EQ(reg(sleeper, offsetof(user_regs_struct, rax)), static_cast<uint64_t>(-EINTR));
    EXPECT_EQ(reg(sleeper, offsetof(user_regs_struct, orig_rax)), ~uint64_t{0});
    const image::Thread& spinner = thread(ready.spinner);
    EXPECT_EQ(reg(spinner, offsetof(user_regs_struct, r12)), kR12);
    ASSERT_GE(spinner.xstate.size(), 512u + 64u);
    for (size_t i = 160; i < 176; i++) EXPECT_EQ(spinner.xstate[i], kXmmByte) << i;  // xmm0
    EXPECT_NE(reg(spinner, offsetof(user_regs_struct, fs_base)), 0u);

    // VMAs, sorted and not overlapping.
    for (size_t i = 1; i < process.vmas.size(); i++)
        EXPECT_LE(process.vmas[i - 1].end, process.vmas[i].start);
    struct stat file_stat {};
    ASSERT_EQ(stat(g_file_path.c_str(), &file_stat), 0);
    const image::Vma* anon = vma_at(process, ready.anon);
    ASSERT_NE(anon, nullptr);
    EXPECT_EQ(anon->kind, image::VmaKind::Anon);
    EXPECT_EQ(anon->prot, uint32_t{PROT_READ | PROT_WRITE});
    EXPECT_EQ(anon->flags, uint32_t{MAP_PRIVATE | MAP_ANONYMOUS});
    EXPECT_EQ(anon->path, "");
    const image::Vma* shared = vma_at(process, ready.shared);
    ASSERT_NE(shared, nullptr);
    EXPECT_EQ(shared->kind, image::VmaKind::Anon);
    EXPECT_EQ(shared->end - shared->start, 2 * 4096u);
    EXPECT_EQ(shared->prot, uint32_t{PROT_READ});
    EXPECT_EQ(shared->flags, uint32_t{MAP_SHARED | MAP_ANONYMOUS});
    EXPECT_EQ(shared->dev, 0u);
    const image::Vma* file = vma_at(process, ready.file);
    ASSERT_NE(file, nullptr);
    EXPECT_EQ(file->kind, image::VmaKind::File);
    EXPECT_EQ(file->prot, uint32_t{PROT_READ});
    EXPECT_EQ(file->flags, uint32_t{MAP_PRIVATE});
    EXPECT_EQ(file->pgoff, 4096u);
    EXPECT_EQ(file->path, g_file_path);
    EXPECT_EQ(file->dev, file_stat.st_dev);
    EXPECT_EQ(file->ino, file_stat.st_ino);
    const image::Vma* down = vma_at(process, ready.down);
    ASSERT_NE(down, nullptr);
    EXPECT_EQ(down->flags, uint32_t{MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN});
    const image::Vma* stack = vma_named(process, "[stack]");
    ASSERT_NE(stack, nullptr);
    EXPECT_EQ(stack->kind, image::VmaKind::Stack);
    EXPECT_TRUE(stack->flags & MAP_GROWSDOWN);
    // The heap may be two VMAs: the one inherited over fork and the child's growth.
    const image::Vma* heap = nullptr;
    for (const image::Vma& vma : process.vmas)
        if (vma.start < mm.brk && mm.brk <= vma.end) heap = &vma;
    ASSERT_NE(heap, nullptr);
    EXPECT_EQ(heap->kind, image::VmaKind::Heap);
    EXPECT_EQ(heap->end, mm.brk);
    const image::Vma* vdso = vma_named(process, "[vdso]");
    ASSERT_NE(vdso, nullptr);
    EXPECT_EQ(vdso->kind, image::VmaKind::Vdso);
    EXPECT_EQ(vdso->flags, uint32_t{MAP_PRIVATE | MAP_ANONYMOUS});
    const image::Vma* exe_map = vma_named(process, exe);
    ASSERT_NE(exe_map, nullptr);
    EXPECT_EQ(exe_map->kind, image::VmaKind::File);

    // Files, sorted by fd.
    for (size_t i = 1; i < process.files.size(); i++)
        EXPECT_LT(process.files[i - 1].fd, process.files[i].fd);
    const image::FileDesc* append = file_at(process, kAppendFd);
    ASSERT_NE(append, nullptr);
    EXPECT_EQ(append->kind, image::FileKind::Regular);
    EXPECT_EQ(append->path, g_file_path);
    EXPECT_EQ(append->pos, 37u);
    EXPECT_EQ(append->flags & (O_ACCMODE | O_APPEND | O_CLOEXEC), uint32_t{O_RDWR | O_APPEND});
    EXPECT_EQ(append->dev, file_stat.st_dev);
    EXPECT_EQ(append->ino, file_stat.st_ino);
    EXPECT_EQ(append->mode, file_stat.st_mode);
    const image::FileDesc* cloexec = file_at(process, kCloexecFd);
    ASSERT_NE(cloexec, nullptr);
    EXPECT_EQ(cloexec->pos, 100u);
    EXPECT_EQ(cloexec->flags & (O_ACCMODE | O_APPEND | O_CLOEXEC), uint32_t{O_RDONLY | O_CLOEXEC});
    const image::FileDesc* dir = file_at(process, kDirFd);
    ASSERT_NE(dir, nullptr);
    EXPECT_EQ(dir->kind, image::FileKind::Directory);
    EXPECT_EQ(dir->path, "/tmp");
    const image::FileDesc* null = file_at(process, kNullFd);
    ASSERT_NE(null, nullptr);
    EXPECT_EQ(null->kind, image::FileKind::CharDevice);
    EXPECT_EQ(null->path, "/dev/null");
    std::vector<uint8_t> in_flight(kPipeBytes);
    for (size_t i = 0; i < kPipeBytes; i++) in_flight[i] = pipe_byte(i);
    for (int fd : {kPipeReadFd, kPipeWriteFd}) {
        const image::FileDesc* pipe = file_at(process, fd);
        ASSERT_NE(pipe, nullptr);
        EXPECT_EQ(pipe->kind, image::FileKind::Pipe);
        EXPECT_TRUE(pipe->path.starts_with("pipe:[")) << pipe->path;
        EXPECT_TRUE(S_ISFIFO(pipe->mode));
        EXPECT_EQ(pipe->data, in_flight) << "fd " << fd;
    }
    EXPECT_EQ(file_at(process, kPipeReadFd)->ino, file_at(process, kPipeWriteFd)->ino);
    const image::FileDesc* event = file_at(process, kEventFd);
    ASSERT_NE(event, nullptr);
    EXPECT_EQ(event->kind, image::FileKind::Eventfd);
    EXPECT_EQ(event->eventfd_count, 42u);
    EXPECT_EQ(event->eventfd_flags, uint32_t{EFD_NONBLOCK | EFD_SEMAPHORE});

    // Frozen all along; then everything goes on as before.
    EXPECT_EQ(g_spins->load(), spins);
    ASSERT_TRUE((*frozen)->thaw());
    EXPECT_EQ(child.receive(500), "") << "a thread woke up early";
    ASSERT_EQ(write(g_wake_pipe[1], "w", 1), 1);
    EXPECT_EQ(child.receive(), "woke 1 w");
    child.send("c");
    EXPECT_EQ(child.receive(), "ok");
    EXPECT_TRUE(test::wait_until([&] { return g_spins->load() > spins; }));
}

TEST_F(CollectorTest, AStoppedProcessStaysStoppedAfterCollection) {
    Child child(rich_child);
    Ready ready = parse_ready(child.receive());
    ASSERT_NE(ready.waker, 0);
    ASSERT_EQ(::kill(child.pid(), SIGSTOP), 0);
    int status = 0;
    ASSERT_EQ(waitpid(child.pid(), &status, WUNTRACED), child.pid());
    {
        auto frozen = Freezer::freeze(child.pid());
        ASSERT_TRUE(frozen) << frozen.error().message();
        image::Process process;
        auto collected = collect_procfs(**frozen, process);
        ASSERT_TRUE(collected) << collected.error().message();
        EXPECT_EQ(process.task.umask, 027u);
        ASSERT_TRUE(collect_ptrace_state(**frozen, process));
        ASSERT_TRUE((*frozen)->thaw());
    }
    uint64_t spins = g_spins->load();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_EQ(g_spins->load(), spins);
    ASSERT_EQ(::kill(child.pid(), SIGCONT), 0);
    child.send("c");
    EXPECT_EQ(child.receive(), "ok");
    EXPECT_TRUE(test::wait_until([&] { return g_spins->load() > spins; }));
}

}  // namespace
}  // namespace crib::proc
