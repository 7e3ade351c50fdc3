// The kernel collector on real processes: a forked child sets up threads,
// signal handlers, an alternate stack, files at offsets, a pipe with data,
// an eventfd and mappings; it is frozen, collected by the BPF iterators in
// the running kernel, and every field is checked against what the child
// set up or what the kernel reports to the child itself through syscalls
// (and, for the file and mapping lists, what /proc reports).
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <linux/capability.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "crib/image/render.hpp"
#include "crib/kernel/iterators.hpp"
#include "crib/kernel/kernel_collector.hpp"
#include "crib/kernel/records.hpp"
#include "crib/proc/child.hpp"
#include "crib/proc/freezer.hpp"
#include "crib/proc/procfs_collector.hpp"

namespace crib::kernel {
namespace {

using proc::test::Channel;
using proc::test::Child;
using proc::test::in_ci;

constexpr size_t kPipeBytes = 1000;
constexpr uint64_t kEventfdCount = 42;
constexpr off_t kFileOffset = 37;
constexpr int kCloexecFd = 50;
// Armed itimers: {interval, value} in seconds for REAL, VIRTUAL, PROF.
constexpr std::array<std::array<uint64_t, 2>, 3> kItimers{{{7, 100}, {3, 50}, {2, 60}}};
constexpr uint64_t kUsPerSecond = 1000000;
constexpr size_t kExtraThreads = 2;
constexpr size_t kAltStackSize = 64 * 1024;
constexpr uint32_t kSsAutodisarm = 1u << 31;  // glibc lacks SS_AUTODISARM

// The kernel's struct sigaction for rt_sigaction(2).
struct KernelSigaction {
    uint64_t handler, flags, restorer, mask;
};

// Written by the child into memory shared with the test before it reports
// "ready": what the kernel told the child about itself.
struct ChildFacts {
    int32_t tids[1 + kExtraThreads];
    std::atomic<int> threads_started;
    KernelSigaction sigactions[64];
    uint64_t brk;
    uint64_t tid_address;
    uint64_t altstack_sp[1 + kExtraThreads];
    uint64_t anon, anon_len, file_map, file_map_len, growsdown;
    int file_fd, pipe_read, pipe_write, eventfd;
    char cwd[256];
};

void on_signal(int) {}
void on_siginfo(int, siginfo_t*, void*) {}

std::string temp_dir() {
    std::string dir = std::filesystem::temp_directory_path() / "crib-kernel-XXXXXX";
    if (!mkdtemp(dir.data())) std::abort();
    return dir;
}

// Each extra thread gets its own alternate stack, then blocks reading a
// pipe nobody writes to (a syscall the freeze interrupts).
void* thread_body(void* arg) {
    auto* facts = static_cast<ChildFacts*>(arg);
    int index = facts->threads_started.fetch_add(1) + 1;
    facts->tids[index] = static_cast<int32_t>(gettid());
    static char stacks[kExtraThreads][kAltStackSize];
    stack_t ss{};
    ss.ss_sp = stacks[index - 1];
    ss.ss_size = sizeof stacks[0];
    ss.ss_flags = index == 2 ? int(kSsAutodisarm) : 0;
    sigaltstack(&ss, nullptr);
    facts->altstack_sp[index] = reinterpret_cast<uint64_t>(ss.ss_sp);
    int never[2];
    if (pipe(never) != 0) std::abort();
    char c;
    while (read(never[0], &c, 1) != 0) {
    }
    return nullptr;
}

// Closes what the child inherited from the test runner besides its
// channel: ctest's log, say, whose offset moves while the child is frozen,
// so two collectors reading it one after the other would disagree.
void close_inherited_fds(const Channel& channel) {
    std::set<int> keep{0, 1, 2, channel.in_fd(), channel.out_fd()};
    std::vector<int> inherited;
    for (const auto& entry : std::filesystem::directory_iterator("/proc/self/fd"))
        inherited.push_back(std::stoi(entry.path().filename()));
    for (int fd : inherited)
        if (!keep.count(fd)) close(fd);
}

void child_body(const Channel& channel, ChildFacts* facts, const std::string& dir) {
    close_inherited_fds(channel);
    prctl(PR_SET_NAME, "crib-kcollect");
    setsid();
    umask(027);
    personality(ADDR_NO_RANDOMIZE);
    gid_t groups[] = {100, 200, 300};
    setgroups(3, groups);
    rlimit nofile{1000, 4096};
    setrlimit(RLIMIT_NOFILE, &nofile);
    rlimit core{0, 0};
    setrlimit(RLIMIT_CORE, &core);
    if (chdir(dir.c_str()) != 0) std::abort();
    getcwd(facts->cwd, sizeof facts->cwd);

    struct sigaction usr1 {};
    usr1.sa_sigaction = on_siginfo;
    usr1.sa_flags = SA_SIGINFO | SA_RESTART;
    sigaddset(&usr1.sa_mask, SIGUSR2);
    sigaction(SIGUSR1, &usr1, nullptr);
    signal(SIGUSR2, SIG_IGN);
    struct sigaction term {};
    term.sa_handler = on_signal;
    term.sa_flags = SA_ONSTACK | SA_NODEFER | SA_RESETHAND;
    sigaction(SIGTERM, &term, nullptr);

    static char main_stack[kAltStackSize];
    stack_t ss{};
    ss.ss_sp = main_stack;
    ss.ss_size = sizeof main_stack;
    sigaltstack(&ss, nullptr);
    facts->altstack_sp[0] = reinterpret_cast<uint64_t>(main_stack);

    static int tid_word;
    facts->tid_address = reinterpret_cast<uint64_t>(&tid_word);
    syscall(SYS_set_tid_address, &tid_word);
    facts->tids[0] = static_cast<int32_t>(gettid());

    // A heap, three kinds of mapping.
    if (sbrk(4 * 4096) == reinterpret_cast<void*>(-1)) std::abort();
    facts->brk = static_cast<uint64_t>(syscall(SYS_brk, 0));
    facts->anon_len = 3 * 4096;
    facts->anon = reinterpret_cast<uint64_t>(
        mmap(nullptr, facts->anon_len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    std::string data_path = dir + "/data";
    facts->file_fd = open(data_path.c_str(), O_RDWR | O_CREAT | O_APPEND, 0640);
    std::vector<char> bytes(3 * 4096, 'x');
    if (write(facts->file_fd, bytes.data(), bytes.size()) != ssize_t(bytes.size())) std::abort();
    lseek(facts->file_fd, kFileOffset, SEEK_SET);
    facts->file_map_len = 4096;
    facts->file_map = reinterpret_cast<uint64_t>(
        mmap(nullptr, facts->file_map_len, PROT_READ, MAP_SHARED, facts->file_fd, 4096));
    facts->growsdown =
        reinterpret_cast<uint64_t>(mmap(nullptr, 4 * 4096, PROT_READ | PROT_WRITE,
                                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN, -1, 0));

    int null_fd = open("/dev/null", O_RDONLY);
    dup3(null_fd, kCloexecFd, O_CLOEXEC);
    close(null_fd);
    int pipe_fds[2];
    if (pipe(pipe_fds) != 0) std::abort();
    facts->pipe_read = pipe_fds[0];
    facts->pipe_write = pipe_fds[1];
    std::vector<char> in_flight(kPipeBytes, 'p');
    if (write(pipe_fds[1], in_flight.data(), kPipeBytes) != ssize_t(kPipeBytes)) std::abort();
    facts->eventfd = eventfd(kEventfdCount, EFD_SEMAPHORE | EFD_NONBLOCK);

    for (int which = 0; which < 3; ++which) {
        itimerval timer{};
        timer.it_interval.tv_sec = time_t(kItimers[which][0]);
        timer.it_value.tv_sec = time_t(kItimers[which][1]);
        setitimer(which, &timer, nullptr);
    }

    for (size_t i = 0; i < kExtraThreads; ++i) {
        pthread_t thread;
        pthread_create(&thread, nullptr, thread_body, facts);
    }
    while (facts->threads_started.load() < int(kExtraThreads)) usleep(1000);
    usleep(20000);  // let the threads reach their blocking read

    for (int sig = 1; sig <= 64; ++sig)
        syscall(SYS_rt_sigaction, sig, nullptr, &facts->sigactions[sig - 1], 8);

    channel.send("ready");
    for (;;) {
        std::string line = channel.receive(-1);
        if (line == "ping") channel.send("pong");
        if (line == "drain") {
            std::vector<char> buffer(4 * kPipeBytes);
            fcntl(facts->pipe_read, F_SETFL, O_NONBLOCK);
            channel.send(std::to_string(read(facts->pipe_read, buffer.data(), buffer.size())));
        }
        if (line.empty()) _exit(0);
    }
}

// Skips off CI when this machine may not load BPF iterators at all.
bool skip_without_bpf() {
    auto available = kernel::available();
    if (available || in_ci()) return false;
    if (available.error().code() != EPERM && available.error().code() != EACCES) return false;
    GTEST_LOG_(INFO) << "skipped: " << available.error().to_string();
    return true;
}

std::string read_link(const std::string& path) {
    return std::filesystem::read_symlink(path).string();
}

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

uint64_t fdinfo_flags(pid_t pid, int fd) {
    std::string info = read_text(fmt::format("/proc/{}/fdinfo/{}", pid, fd));
    size_t at = info.find("flags:");
    return std::stoull(info.substr(at + 6), nullptr, 8);
}

class KernelCollectorTest : public ::testing::Test {
protected:
    void SetUp() override {
        if (skip_without_bpf()) GTEST_SKIP() << "BPF iterators are not permitted here";
        ASSERT_TRUE(kernel::available()) << kernel::available().error().to_string();
        void* shared = mmap(nullptr, sizeof(ChildFacts), PROT_READ | PROT_WRITE,
                            MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        ASSERT_NE(shared, MAP_FAILED);
        m_facts = new (shared) ChildFacts{};
        m_dir = temp_dir();
        m_child = std::make_unique<Child>(
            [this](const Channel& channel) { child_body(channel, m_facts, m_dir); });
        ASSERT_EQ(m_child->receive(), "ready");
    }
    void TearDown() override {
        m_child.reset();
        if (m_facts) munmap(m_facts, sizeof(ChildFacts));
        if (!m_dir.empty()) std::filesystem::remove_all(m_dir);
    }

    ChildFacts* m_facts = nullptr;
    std::string m_dir;
    std::unique_ptr<Child> m_child;
};

TEST_F(KernelCollectorTest, TaskFieldsMatchWhatTheChildSetUp) {
    pid_t pid = m_child->pid();
    auto freezer = proc::Freezer::freeze(pid);
    ASSERT_TRUE(freezer) << freezer.error().to_string();
    image::Process process;
    auto collected = collect_kernel(**freezer, process);
    ASSERT_TRUE(collected) << collected.error().to_string();

    const image::Task& task = process.task;
    EXPECT_EQ(task.pid, pid);
    EXPECT_EQ(task.ppid, getpid());
    EXPECT_EQ(task.pgid, pid);
    EXPECT_EQ(task.sid, pid);
    EXPECT_EQ(task.comm, "crib-kcollect");
    EXPECT_EQ(task.exe, read_link("/proc/self/exe"));
    EXPECT_EQ(task.cwd, m_facts->cwd);
    EXPECT_EQ(task.root, "/");
    EXPECT_EQ(task.umask, 027u);
    EXPECT_EQ(task.personality, uint32_t(ADDR_NO_RANDOMIZE));

    EXPECT_EQ(task.creds.uids, (std::array<uint32_t, 4>{getuid(), geteuid(), getuid(), geteuid()}));
    EXPECT_EQ(task.creds.gids, (std::array<uint32_t, 4>{getgid(), getegid(), getgid(), getegid()}));
    EXPECT_EQ(task.creds.groups, (std::vector<uint32_t>{100, 200, 300}));
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct caps[2]{};
    ASSERT_EQ(syscall(SYS_capget, &header, caps), 0);
    EXPECT_EQ(task.creds.cap_effective, caps[0].effective | uint64_t(caps[1].effective) << 32);
    EXPECT_EQ(task.creds.cap_permitted, caps[0].permitted | uint64_t(caps[1].permitted) << 32);
    EXPECT_EQ(task.creds.cap_inheritable, caps[0].inheritable | uint64_t(caps[1].inheritable)
                                                                    << 32);
    EXPECT_NE(task.creds.cap_bounding, 0u);

    EXPECT_EQ(task.rlimits[RLIMIT_NOFILE], (image::Rlimit{1000, 4096}));
    EXPECT_EQ(task.rlimits[RLIMIT_CORE], (image::Rlimit{0, 0}));
    rlimit stack{};
    getrlimit(RLIMIT_STACK, &stack);
    EXPECT_EQ(task.rlimits[RLIMIT_STACK], (image::Rlimit{stack.rlim_cur, stack.rlim_max}));

    for (int sig = 1; sig <= 64; ++sig) {
        const KernelSigaction& want = m_facts->sigactions[sig - 1];
        EXPECT_EQ(task.sigactions[sig - 1],
                  (image::SigAction{want.handler, want.flags, want.restorer, want.mask}))
            << "signal " << sig;
    }
    EXPECT_EQ(task.sigactions[SIGUSR1 - 1].handler, reinterpret_cast<uint64_t>(&on_siginfo));
    EXPECT_EQ(task.sigactions[SIGUSR2 - 1].handler, reinterpret_cast<uint64_t>(SIG_IGN));
    EXPECT_EQ(task.sigactions[SIGUSR1 - 1].mask, 1ull << (SIGUSR2 - 1));

    // Values count down from what was set (wall time for REAL, the child's
    // little CPU time for the others; the kernel arms CPU timers one tick,
    // at most 10 ms, late); intervals stay as set.
    constexpr uint64_t kTickUs = 10000;
    for (int which = 0; which < 3; ++which) {
        EXPECT_EQ(task.itimers[which].interval_us, kItimers[which][0] * kUsPerSecond) << which;
        EXPECT_LE(task.itimers[which].value_us, kItimers[which][1] * kUsPerSecond + kTickUs)
            << which;
        EXPECT_GT(task.itimers[which].value_us, (kItimers[which][1] - 5) * kUsPerSecond) << which;
    }

    // start_code.. from /proc/PID/stat (fields 26-28, 45-51), auxv from
    // /proc/PID/auxv: the kernel's own views of the same mm.
    std::string stat = read_text(fmt::format("/proc/{}/stat", pid));
    std::istringstream fields(stat.substr(stat.rfind(')') + 2));
    std::vector<uint64_t> f(3);
    std::string word;
    for (int number = 3; fields >> word; ++number)
        f.push_back(std::strtoull(word.c_str(), nullptr, 10));
    const image::MmLayout& mm = task.mm;
    EXPECT_EQ(mm.start_code, f[26]);
    EXPECT_EQ(mm.end_code, f[27]);
    EXPECT_EQ(mm.start_stack, f[28]);
    EXPECT_EQ(mm.start_data, f[45]);
    EXPECT_EQ(mm.end_data, f[46]);
    EXPECT_EQ(mm.start_brk, f[47]);
    EXPECT_EQ(mm.arg_start, f[48]);
    EXPECT_EQ(mm.arg_end, f[49]);
    EXPECT_EQ(mm.env_start, f[50]);
    EXPECT_EQ(mm.env_end, f[51]);
    EXPECT_EQ(mm.brk, m_facts->brk);
    std::string auxv = read_text(fmt::format("/proc/{}/auxv", pid));
    ASSERT_EQ(auxv.size(), mm.auxv.size() * 8);
    EXPECT_EQ(std::memcmp(auxv.data(), mm.auxv.data(), auxv.size()), 0);
    EXPECT_EQ(mm.auxv[mm.auxv.size() - 2], 0u);  // ends with AT_NULL
}

TEST_F(KernelCollectorTest, ThreadsInFreezerOrderWithAltstacks) {
    auto freezer = proc::Freezer::freeze(m_child->pid());
    ASSERT_TRUE(freezer) << freezer.error().to_string();
    image::Process process;
    auto collected = collect_kernel(**freezer, process);
    ASSERT_TRUE(collected) << collected.error().to_string();

    ASSERT_EQ(process.threads.size(), 1 + kExtraThreads);
    for (size_t i = 0; i < process.threads.size(); ++i)
        EXPECT_EQ(process.threads[i].tid, (*freezer)->threads()[i]);
    EXPECT_EQ(process.threads[0].tid, m_facts->tids[0]);
    EXPECT_EQ(process.threads[0].clear_child_tid, m_facts->tid_address);
    EXPECT_EQ(process.threads[0].altstack,
              (image::SigAltStack{m_facts->altstack_sp[0], kAltStackSize, 0}));
    for (size_t index = 1; index <= kExtraThreads; ++index) {
        auto it =
            std::find_if(process.threads.begin(), process.threads.end(),
                         [&](const image::Thread& t) { return t.tid == m_facts->tids[index]; });
        ASSERT_NE(it, process.threads.end()) << "thread " << index;
        EXPECT_NE(it->clear_child_tid, 0u);  // glibc's pthread join word
        uint32_t flags = index == 2 ? kSsAutodisarm : 0;
        EXPECT_EQ(it->altstack,
                  (image::SigAltStack{m_facts->altstack_sp[index], kAltStackSize, flags}));
    }
}

TEST_F(KernelCollectorTest, VmasMatchProcMaps) {
    pid_t pid = m_child->pid();
    auto freezer = proc::Freezer::freeze(pid);
    ASSERT_TRUE(freezer) << freezer.error().to_string();
    image::Process process;
    auto collected = collect_kernel(**freezer, process);
    ASSERT_TRUE(collected) << collected.error().to_string();

    // Every line of /proc/PID/maps, in order: range, perms, offset, dev,
    // inode, name.
    std::istringstream maps(read_text(fmt::format("/proc/{}/maps", pid)));
    std::string line;
    size_t index = 0;
    while (std::getline(maps, line)) {
        ASSERT_LT(index, process.vmas.size()) << line;
        const image::Vma& vma = process.vmas[index++];
        unsigned long long start, end, offset, inode;
        unsigned major, minor;
        char perms[5] = {};
        int name_at = 0;
        ASSERT_EQ(sscanf(line.c_str(), "%llx-%llx %4s %llx %x:%x %llu %n", &start, &end, perms,
                         &offset, &major, &minor, &inode, &name_at),
                  7)
            << line;
        std::string name = line.substr(std::min<size_t>(name_at, line.size()));
        EXPECT_EQ(vma.start, start) << line;
        EXPECT_EQ(vma.end, end) << line;
        std::string got = {vma.prot & PROT_READ ? 'r' : '-', vma.prot & PROT_WRITE ? 'w' : '-',
                           vma.prot & PROT_EXEC ? 'x' : '-', vma.flags & MAP_SHARED ? 's' : 'p'};
        EXPECT_EQ(got, perms) << line;
        if (name == "/dev/zero (deleted)") {
            // Shared anonymous memory: its shmem file is not part of the image.
            EXPECT_EQ(vma.kind, image::VmaKind::Anon) << line;
            EXPECT_EQ(vma.flags, uint32_t(MAP_SHARED | MAP_ANONYMOUS)) << line;
            EXPECT_EQ(vma.path, "") << line;
            EXPECT_EQ(vma.pgoff + vma.dev + vma.ino, 0u) << line;
            continue;
        }
        EXPECT_EQ(vma.pgoff, offset) << line;
        EXPECT_EQ(vma.dev, makedev(major, minor)) << line;
        EXPECT_EQ(vma.ino, inode) << line;
        EXPECT_EQ(vma.path, name) << line;
    }
    EXPECT_EQ(index, process.vmas.size());

    auto find = [&](uint64_t start) {
        return std::find_if(process.vmas.begin(), process.vmas.end(),
                            [&](const image::Vma& v) { return v.start == start; });
    };
    auto anon = find(m_facts->anon);
    ASSERT_NE(anon, process.vmas.end());
    EXPECT_EQ(anon->kind, image::VmaKind::Anon);
    EXPECT_EQ(anon->flags, uint32_t(MAP_PRIVATE | MAP_ANONYMOUS));
    EXPECT_EQ(anon->prot, uint32_t(PROT_READ | PROT_WRITE));
    auto file = find(m_facts->file_map);
    ASSERT_NE(file, process.vmas.end());
    EXPECT_EQ(file->kind, image::VmaKind::File);
    EXPECT_EQ(file->flags, uint32_t(MAP_SHARED));
    EXPECT_EQ(file->path, m_dir + "/data");
    EXPECT_EQ(file->pgoff, 4096u);
    struct stat st {};
    ASSERT_EQ(stat(file->path.c_str(), &st), 0);
    EXPECT_EQ(file->dev, st.st_dev);
    EXPECT_EQ(file->ino, st.st_ino);
    auto growsdown = find(m_facts->growsdown);
    ASSERT_NE(growsdown, process.vmas.end());
    EXPECT_TRUE(growsdown->flags & MAP_GROWSDOWN);
    // The heap may be split in several VMAs (it is in the fork of a test
    // that has grown it); the stack and vDSO are one each.
    auto count = [&](image::VmaKind kind) {
        return std::count_if(process.vmas.begin(), process.vmas.end(),
                             [&](const image::Vma& v) { return v.kind == kind; });
    };
    EXPECT_GE(count(image::VmaKind::Heap), 1);
    EXPECT_EQ(count(image::VmaKind::Stack), 1);
    EXPECT_EQ(count(image::VmaKind::Vdso), 1);
}

TEST_F(KernelCollectorTest, FilesMatchWhatTheChildOpened) {
    pid_t pid = m_child->pid();
    auto freezer = proc::Freezer::freeze(pid);
    ASSERT_TRUE(freezer) << freezer.error().to_string();
    image::Process process;
    auto collected = collect_kernel(**freezer, process);
    ASSERT_TRUE(collected) << collected.error().to_string();

    // The same descriptors as /proc/PID/fd, each with readlink's path,
    // stat's dev/ino/mode and fdinfo's flags.
    std::vector<int> listed;
    for (const auto& entry : std::filesystem::directory_iterator(fmt::format("/proc/{}/fd", pid)))
        listed.push_back(std::stoi(entry.path().filename()));
    std::sort(listed.begin(), listed.end());
    std::vector<int> got;
    for (const image::FileDesc& file : process.files) {
        got.push_back(file.fd);
        std::string link = fmt::format("/proc/{}/fd/{}", pid, file.fd);
        EXPECT_EQ(file.path, read_link(link)) << "fd " << file.fd;
        struct stat st {};
        ASSERT_EQ(stat(link.c_str(), &st), 0);
        EXPECT_EQ(file.dev, st.st_dev) << "fd " << file.fd;
        EXPECT_EQ(file.ino, st.st_ino) << "fd " << file.fd;
        EXPECT_EQ(file.mode, st.st_mode) << "fd " << file.fd;
        EXPECT_EQ(file.flags, fdinfo_flags(pid, file.fd)) << "fd " << file.fd;
    }
    EXPECT_EQ(got, listed);

    auto fd = [&](int number) -> const image::FileDesc& {
        auto it = std::find_if(process.files.begin(), process.files.end(),
                               [&](const image::FileDesc& f) { return f.fd == number; });
        EXPECT_NE(it, process.files.end()) << "fd " << number;
        return *it;
    };
    const image::FileDesc& data = fd(m_facts->file_fd);
    EXPECT_EQ(data.kind, image::FileKind::Regular);
    EXPECT_EQ(data.pos, uint64_t(kFileOffset));
    EXPECT_EQ(data.flags & (O_ACCMODE | O_APPEND | O_CLOEXEC), uint32_t(O_RDWR | O_APPEND));
    EXPECT_EQ(data.path, m_dir + "/data");
    const image::FileDesc& null = fd(kCloexecFd);
    EXPECT_EQ(null.kind, image::FileKind::CharDevice);
    EXPECT_TRUE(null.flags & O_CLOEXEC);
    const image::FileDesc& pipe_read = fd(m_facts->pipe_read);
    EXPECT_EQ(pipe_read.kind, image::FileKind::Pipe);
    EXPECT_EQ(pipe_read.path, fmt::format("pipe:[{}]", pipe_read.ino));
    // The bytes in flight, on both ends, and still in the pipe afterwards.
    EXPECT_EQ(pipe_read.data, std::vector<uint8_t>(kPipeBytes, 'p'));
    EXPECT_EQ(fd(m_facts->pipe_write).data, pipe_read.data);

    const image::FileDesc& counter = fd(m_facts->eventfd);
    EXPECT_EQ(counter.kind, image::FileKind::Eventfd);
    EXPECT_EQ(counter.path, "anon_inode:[eventfd]");
    EXPECT_EQ(counter.eventfd_count, kEventfdCount);
    EXPECT_EQ(counter.eventfd_flags, uint32_t(EFD_SEMAPHORE | EFD_NONBLOCK));

    // The child runs on unharmed, its pipe bytes still there.
    ASSERT_TRUE((*freezer)->thaw());
    m_child->send("ping");
    EXPECT_EQ(m_child->receive(), "pong");
    m_child->send("drain");
    EXPECT_EQ(m_child->receive(), std::to_string(kPipeBytes));
}

// Where two JSON renderings of an image first differ, as a JSON pointer
// with both values; empty when they are equal.
std::string first_difference(const nlohmann::ordered_json& a, const nlohmann::ordered_json& b,
                             const std::string& at = "") {
    if (a.type() != b.type() || (!a.is_structured() && a != b))
        return fmt::format("{}: kernel {} procfs {}", at, a.dump(), b.dump());
    if (a.is_object()) {
        for (auto it = a.begin(); it != a.end(); ++it) {
            if (!b.contains(it.key())) return fmt::format("{}/{}: only in kernel", at, it.key());
            auto diff = first_difference(it.value(), b.at(it.key()), at + "/" + it.key());
            if (!diff.empty()) return diff;
        }
        if (a.size() != b.size()) return fmt::format("{}: procfs has more keys", at);
    }
    if (a.is_array()) {
        for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
            auto diff = first_difference(a[i], b[i], fmt::format("{}/{}", at, i));
            if (!diff.empty()) return diff;
        }
        if (a.size() != b.size())
            return fmt::format("{}: {} entries in kernel, {} in procfs", at, a.size(), b.size());
    }
    return "";
}

// The collector equivalence the issue asks for: the same frozen process
// read by the BPF iterators and by /proc with injected syscalls gives the
// same image, field for field.
TEST_F(KernelCollectorTest, SameImageAsTheProcfsCollector) {
    auto freezer = proc::Freezer::freeze(m_child->pid());
    ASSERT_TRUE(freezer) << freezer.error().to_string();
    image::Process kernel_view, procfs_view;
    auto collected = collect_kernel(**freezer, kernel_view);
    ASSERT_TRUE(collected) << collected.error().to_string();
    collected = proc::collect_procfs(**freezer, procfs_view);
    ASSERT_TRUE(collected) << collected.error().to_string();

    // Timers count down between the two reads: ITIMER_REAL with wall time,
    // the CPU timers with the syscalls procfs injects. Within a second they
    // agree; then they are compared as equal.
    for (size_t which = 0; which < 3; ++which) {
        auto& k = kernel_view.task.itimers[which];
        auto& p = procfs_view.task.itimers[which];
        EXPECT_EQ(k.interval_us, p.interval_us) << which;
        EXPECT_LE(p.value_us, k.value_us) << which;
        EXPECT_LT(k.value_us - p.value_us, kUsPerSecond) << which;
        p.value_us = k.value_us;
    }
    EXPECT_EQ(
        first_difference(image::to_json({kernel_view, {}}), image::to_json({procfs_view, {}})), "");
    EXPECT_TRUE(kernel_view == procfs_view);
}

// A file mapped through overlayfs: the VMA holds the layer's file, yet the
// image must name the file the process mapped, as /proc/PID/maps does.
TEST(KernelCollectorOverlay, MappedFileKeepsTheOverlayPath) {
    if (skip_without_bpf()) GTEST_SKIP() << "BPF iterators are not permitted here";
    std::string dir = temp_dir();
    for (const char* sub : {"/lower", "/upper", "/work", "/merged"})
        std::filesystem::create_directory(dir + sub);
    std::ofstream(dir + "/lower/data") << std::string(4096, 'o');
    std::string options =
        fmt::format("lowerdir={0}/lower,upperdir={0}/upper,workdir={0}/work", dir);
    if (mount("overlay", (dir + "/merged").c_str(), "overlay", 0, options.c_str()) != 0) {
        int err = errno;
        std::filesystem::remove_all(dir);
        if (!in_ci() && (err == EPERM || err == ENODEV))
            GTEST_SKIP() << "cannot mount overlayfs here: " << std::strerror(err);
        FAIL() << "mount overlay: " << std::strerror(err);
    }
    std::string mapped = dir + "/merged/data";
    uint64_t address = 0;
    {
        Child child([&](const Channel& channel) {
            int fd = open(mapped.c_str(), O_RDONLY);
            void* at = mmap(nullptr, 4096, PROT_READ, MAP_SHARED, fd, 0);
            channel.send(std::to_string(reinterpret_cast<uint64_t>(at)));
            channel.receive(-1);
        });
        address = std::stoull(child.receive());
        auto freezer = proc::Freezer::freeze(child.pid());
        ASSERT_TRUE(freezer) << freezer.error().to_string();
        image::Process process;
        auto collected = collect_kernel(**freezer, process);
        ASSERT_TRUE(collected) << collected.error().to_string();
        auto vma = std::find_if(process.vmas.begin(), process.vmas.end(),
                                [&](const image::Vma& v) { return v.start == address; });
        ASSERT_NE(vma, process.vmas.end());
        struct stat st {};
        ASSERT_EQ(stat(mapped.c_str(), &st), 0);
        EXPECT_EQ(vma->kind, image::VmaKind::File);
        EXPECT_EQ(vma->path, mapped);
        EXPECT_EQ(vma->dev, st.st_dev);
        EXPECT_EQ(vma->ino, st.st_ino);
    }
    umount2((dir + "/merged").c_str(), MNT_DETACH);
    std::filesystem::remove_all(dir);
}

// The task.pid link filter: the kernel walks the target's threads and
// nothing else, and a pid that is gone yields no records at all.
TEST(KernelIterators, WalkOnlyTheTargetProcess) {
    if (skip_without_bpf()) GTEST_SKIP() << "BPF iterators are not permitted here";
    auto object = IteratorObject::shared();
    ASSERT_TRUE(object) << object.error().to_string();

    image::Process self;
    auto bytes = (*object)->run(kTaskIterator, getpid());
    ASSERT_TRUE(bytes) << bytes.error().to_string();
    ASSERT_TRUE(decode_records(*bytes, getpid(), self));
    EXPECT_EQ(self.task.pid, getpid());
    ASSERT_FALSE(self.threads.empty());
    EXPECT_EQ(self.threads[0].tid, getpid());
    for (const image::Thread& thread : self.threads)
        EXPECT_TRUE(std::filesystem::exists(fmt::format("/proc/self/task/{}", thread.tid)));

    pid_t gone = fork();
    if (gone == 0) _exit(0);
    waitpid(gone, nullptr, 0);
    for (auto program : {kTaskIterator, kVmaIterator, kFileIterator}) {
        auto none = (*object)->run(program, gone);
        ASSERT_TRUE(none) << none.error().to_string();
        EXPECT_TRUE(none->empty()) << program;
    }
}

// Without CAP_BPF, CAP_PERFMON and CAP_SYS_ADMIN the kernel refuses the
// iterators; the error says which capabilities are missing. Run in a child
// that drops them, so the test process keeps its own.
TEST(KernelIterators, LoadWithoutCapabilitiesSaysWhy) {
    if (skip_without_bpf()) GTEST_SKIP() << "BPF iterators are not permitted here";
    int report[2];
    ASSERT_EQ(pipe(report), 0);
    pid_t pid = fork();
    if (pid == 0) {
        __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
        __user_cap_data_struct caps[2]{};
        syscall(SYS_capget, &header, caps);
        for (int cap : {CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN}) {
            caps[cap / 32].effective &= ~(1u << (cap % 32));
            caps[cap / 32].permitted &= ~(1u << (cap % 32));
        }
        if (syscall(SYS_capset, &header, caps) != 0) _exit(2);
        auto loaded = IteratorObject::load("");  // pins would skip the load
        std::string said = loaded ? "loaded" : loaded.error().to_string();
        if (write(report[1], said.data(), said.size()) < 0) _exit(3);
        _exit(loaded ? 1 : 0);
    }
    close(report[1]);
    char buffer[4096];
    ssize_t n = read(report[0], buffer, sizeof buffer);
    close(report[0]);
    int status = 0;
    waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status));
    ASSERT_EQ(WEXITSTATUS(status), 0) << std::string(buffer, std::max<ssize_t>(n, 0));
    std::string said(buffer, static_cast<size_t>(n));
    EXPECT_NE(said.find("CAP_BPF"), std::string::npos) << said;
    EXPECT_NE(said.find("EPERM"), std::string::npos) << said;
}

// A pin root of the test's own on the real bpffs, removed when done.
class KernelPins : public ::testing::Test {
protected:
    void SetUp() override {
        if (skip_without_bpf()) GTEST_SKIP() << "BPF iterators are not permitted here";
        m_root = fmt::format("/sys/fs/bpf/crib-test-{}", getpid());
        m_dir = fmt::format("{}/{}", m_root, pin_key(collect_object_bytes()));
        std::filesystem::remove_all(m_root);
    }
    void TearDown() override {
        if (!m_root.empty()) std::filesystem::remove_all(m_root);
    }

    // Loads from m_root and checks the programs work: the task iterator
    // over this process reports this process.
    IteratorObject::Origin load_and_run() {
        auto object = IteratorObject::load(m_root);
        EXPECT_TRUE(object) << object.error().to_string();
        if (!object) return IteratorObject::Origin::Loaded;
        auto bytes = (*object)->run(kTaskIterator, getpid());
        EXPECT_TRUE(bytes) << bytes.error().to_string();
        image::Process self;
        if (bytes) {
            EXPECT_TRUE(decode_records(*bytes, getpid(), self));
        }
        EXPECT_EQ(self.task.pid, getpid());
        return (*object)->origin();
    }

    std::set<std::string> pinned_names() {
        std::set<std::string> names;
        for (const auto& entry : std::filesystem::directory_iterator(m_dir))
            names.insert(entry.path().filename().string());
        return names;
    }

    std::string m_root, m_dir;
};

TEST_F(KernelPins, FirstLoadPinsAndLaterLoadsTakeThePins) {
    EXPECT_EQ(load_and_run(), IteratorObject::Origin::Published);
    EXPECT_EQ(pinned_names(),
              (std::set<std::string>{"collect_task", "collect_vma", "collect_file"}));
    EXPECT_EQ(load_and_run(), IteratorObject::Origin::Pinned);
    EXPECT_EQ(load_and_run(), IteratorObject::Origin::Pinned);
}

// A set missing a program, or one others could write to, is not used: the
// object is loaded and a complete, private set replaces it.
TEST_F(KernelPins, IncompleteOrUntrustedPinsAreReplaced) {
    ASSERT_EQ(load_and_run(), IteratorObject::Origin::Published);
    std::filesystem::remove(m_dir + "/collect_vma");
    EXPECT_EQ(load_and_run(), IteratorObject::Origin::Published);
    EXPECT_EQ(pinned_names().size(), 3u);

    ASSERT_EQ(chmod(m_dir.c_str(), 0777), 0);
    EXPECT_EQ(load_and_run(), IteratorObject::Origin::Published);
    struct stat st {};
    ASSERT_EQ(stat(m_dir.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0700u);
    EXPECT_EQ(load_and_run(), IteratorObject::Origin::Pinned);
}

// Pins of another build (another key) are neither used nor touched.
TEST_F(KernelPins, OtherKeysAreLeftAlone) {
    std::string other = m_root + "/0123456789abcdef";
    std::filesystem::create_directories(other);
    EXPECT_EQ(load_and_run(), IteratorObject::Origin::Published);
    EXPECT_TRUE(std::filesystem::exists(other));
}

// Without bpffs at the pin root the object is loaded every time and
// nothing is left behind.
TEST_F(KernelPins, NoBpffsMeansLoadEveryTime) {
    std::string dir = temp_dir();
    m_root = dir + "/crib";
    EXPECT_EQ(load_and_run(), IteratorObject::Origin::Loaded);
    EXPECT_EQ(load_and_run(), IteratorObject::Origin::Loaded);
    EXPECT_FALSE(std::filesystem::exists(m_root));
    std::filesystem::remove_all(dir);
    m_root.clear();
}

// Crib runs racing on an empty pin root all load working programs; one
// set ends up pinned, complete, and is what later runs take.
TEST_F(KernelPins, RacingRunsAllWork) {
    constexpr int kRacers = 4;
    std::vector<pid_t> racers;
    for (int i = 0; i < kRacers; ++i) {
        pid_t pid = fork();
        if (pid == 0) {
            auto object = IteratorObject::load(m_root);
            if (!object) _exit(2);
            auto bytes = (*object)->run(kTaskIterator, getpid());
            image::Process self;
            _exit(bytes && decode_records(*bytes, getpid(), self) && self.task.pid == getpid() ? 0
                                                                                               : 1);
        }
        racers.push_back(pid);
    }
    for (pid_t pid : racers) {
        int status = 0;
        ASSERT_EQ(waitpid(pid, &status, 0), pid);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
    }
    EXPECT_EQ(pinned_names().size(), 3u);
    EXPECT_EQ(load_and_run(), IteratorObject::Origin::Pinned);
}

TEST(KernelRecords, TruncatedAndUnknownRecordsAreRefusedWithTheirOffset) {
    image::Process out;
    std::vector<uint8_t> bytes = {3, 0, 0, 0, 200, 0, 0, 0};  // a VMA record claiming 200 bytes
    auto result = decode_records(bytes, 7, out);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().code(), EPROTO);
    EXPECT_NE(result.error().message().find("offset 0"), std::string::npos);
    bytes = {99, 0, 0, 0, 8, 0, 0, 0};
    result = decode_records(bytes, 7, out);
    ASSERT_FALSE(result);
    EXPECT_NE(result.error().message().find("unknown record kind 99"), std::string::npos);
}

}  // namespace
}  // namespace crib::kernel
