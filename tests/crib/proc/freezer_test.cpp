// The freezer on real processes: every thread held while frozen, nothing
// lost or changed when let go, refusals that say why.
#include "crib/proc/freezer.hpp"

#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <sstream>
#include <thread>

#include "crib/proc/child.hpp"
#include "crib/proc/procfs_read.hpp"

namespace crib::proc {
namespace {

using test::Channel;
using test::Child;
using test::wait_until;

// Shared with the children (MAP_SHARED before fork): what their spinning
// threads count.
struct Shared {
    std::atomic<uint64_t> spins{0};
    std::atomic<int> handled{0};
    std::atomic<int> errors{0};
};

Shared* shared_page() {
    static Shared* page = [] {
        void* mem = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        return new (mem) Shared;
    }();
    return page;
}

char thread_state(pid_t pid, pid_t tid) {
    auto text = read_proc_file(fmt::format("/proc/{}/task/{}/stat", pid, tid));
    if (!text) return '?';
    return (*text)[text->rfind(')') + 2];
}

pid_t tracer_of(pid_t pid) {
    auto status = read_proc_file(fmt::format("/proc/{}/status", pid));
    if (!status) return -1;
    return std::stoi(std::string(find_field(*status, "TracerPid").value_or("-1")));
}

uint64_t now_ms() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000;
}

void spin_forever() {
    for (;;) shared_page()->spins.fetch_add(1, std::memory_order_relaxed);
}

// A child with a spinning thread, a thread asleep in clock_nanosleep and a
// thread blocked in read(2); each reports how its syscall ended.
void busy_child(const Channel& channel) {
    static int data_pipe[2];
    if (pipe(data_pipe) != 0) _exit(1);
    static const Channel* out = &channel;
    std::thread(spin_forever).detach();
    std::thread([] {
        uint64_t start = now_ms();
        timespec length{0, 400'000'000};
        int ret = clock_nanosleep(CLOCK_MONOTONIC, 0, &length, nullptr);
        out->send(fmt::format("slept {} {}", ret, now_ms() - start >= 400 ? "full" : "short"));
    }).detach();
    std::thread([] {
        char buffer[16] = {};
        ssize_t got = read(data_pipe[0], buffer, sizeof(buffer) - 1);
        out->send(fmt::format("read {} {}", got, buffer));
    }).detach();
    channel.send("ready");
    for (;;) {
        std::string line = channel.receive(-1);
        if (line == "write") {
            if (write(data_pipe[1], "hello", 5) != 5) _exit(1);
        } else if (line.empty()) {
            _exit(0);
        }
    }
}

class FreezerTest : public ::testing::Test {
protected:
    void SetUp() override {
        shared_page();  // mapped before any fork, so children share it
        // A probe: seizing a child of our own needs only what ptrace needs.
        Child probe([](const Channel&) { pause(); });
        if (ptrace(PTRACE_SEIZE, probe.pid(), nullptr, nullptr) != 0) {
            if (test::in_ci()) FAIL() << "ptrace seize refused in CI: " << std::strerror(errno);
            GTEST_SKIP() << "ptrace is not available here: " << std::strerror(errno);
        }
    }
};

TEST_F(FreezerTest, NoSuchProcess) {
    pid_t gone;
    {
        Child child([](const Channel&) { _exit(0); });
        gone = child.pid();
        child.reap();
    }
    auto frozen = Freezer::freeze(gone);
    ASSERT_FALSE(frozen);
    EXPECT_EQ(frozen.error().code(), ESRCH);
    EXPECT_EQ(frozen.error().message(), fmt::format("no process {}", gone));
}

TEST_F(FreezerTest, RefusesOwnProcessThreadsZombiesAndTracedProcesses) {
    auto own = Freezer::freeze(getpid());
    ASSERT_FALSE(own);
    EXPECT_EQ(own.error().code(), EPERM);
    EXPECT_NE(own.error().message().find("crib itself"), std::string::npos);

    Child threaded([](const Channel& channel) {
        std::thread([&channel] {
            channel.send(std::to_string(syscall(SYS_gettid)));
            pause();
        }).detach();
        pause();
    });
    pid_t tid = std::stoi(threaded.receive());
    auto thread = Freezer::freeze(tid);
    ASSERT_FALSE(thread);
    EXPECT_EQ(thread.error().code(), EINVAL);
    EXPECT_EQ(thread.error().message(), fmt::format("{} is a thread of process {}: freeze the "
                                                    "process",
                                                    tid, threaded.pid()));

    Child zombie([](const Channel&) { _exit(3); });
    ASSERT_TRUE(wait_until([&] { return thread_state(zombie.pid(), zombie.pid()) == 'Z'; }));
    auto dead = Freezer::freeze(zombie.pid());
    ASSERT_FALSE(dead);
    EXPECT_EQ(dead.error().code(), ESRCH);
    EXPECT_NE(dead.error().message().find("zombie"), std::string::npos);
    EXPECT_EQ(WEXITSTATUS(zombie.reap()), 3);

    auto first = Freezer::freeze(threaded.pid());
    ASSERT_TRUE(first) << first.error().message();
    auto second = Freezer::freeze(threaded.pid());
    ASSERT_FALSE(second);
    EXPECT_EQ(second.error().code(), EBUSY);
    EXPECT_EQ(second.error().message(),
              fmt::format("process {} is already traced by pid {}", threaded.pid(), getpid()));
}

TEST_F(FreezerTest, HoldsEveryThreadAndThawResumesTheirSyscalls) {
    Child child(busy_child);
    ASSERT_EQ(child.receive(), "ready");
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // let the sleeper sleep

    auto frozen = Freezer::freeze(child.pid());
    ASSERT_TRUE(frozen) << frozen.error().message();
    Freezer& freezer = **frozen;
    EXPECT_EQ(freezer.pid(), child.pid());
    auto listed = list_threads(child.pid());
    ASSERT_TRUE(listed);
    EXPECT_EQ(freezer.threads(), *listed);
    ASSERT_EQ(freezer.threads().size(), 4u);
    EXPECT_EQ(freezer.threads().front(), child.pid());
    for (pid_t tid : freezer.threads()) EXPECT_EQ(thread_state(child.pid(), tid), 't') << tid;

    uint64_t spins = shared_page()->spins.load();
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // past the sleeper's 400 ms
    EXPECT_EQ(shared_page()->spins.load(), spins) << "a thread ran while frozen";

    ASSERT_TRUE(freezer.thaw());
    EXPECT_TRUE(wait_until([&] { return shared_page()->spins.load() > spins; }));
    // The sleep restarted with the time it had left and ended normally.
    EXPECT_EQ(child.receive(), "slept 0 full");
    // The read was restarted too: it still gets the data, not EINTR.
    child.send("write");
    EXPECT_EQ(child.receive(), "read 5 hello");
    for (pid_t tid : *listed) EXPECT_NE(thread_state(child.pid(), tid), 't') << tid;
}

TEST_F(FreezerTest, SignalsSentWhileFrozenAreDeliveredOnceAfterThaw) {
    Child child([](const Channel& channel) {
        struct sigaction action {};
        action.sa_handler = [](int) { shared_page()->handled.fetch_add(1); };
        sigaction(SIGRTMIN, &action, nullptr);
        channel.send("ready");
        for (;;) pause();
    });
    ASSERT_EQ(child.receive(), "ready");
    shared_page()->handled = 0;
    auto frozen = Freezer::freeze(child.pid());
    ASSERT_TRUE(frozen) << frozen.error().message();
    for (int i = 0; i < 3; i++) ASSERT_EQ(sigqueue(child.pid(), SIGRTMIN, sigval{i}), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(shared_page()->handled.load(), 0);
    ASSERT_TRUE((*frozen)->thaw());
    EXPECT_TRUE(wait_until([&] { return shared_page()->handled.load() == 3; }));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    EXPECT_EQ(shared_page()->handled.load(), 3);
}

// A child whose SIGRTMIN handler queues the next SIGRTMIN, numbered: the
// thread is forever dequeuing a signal, so freezes catch it mid-delivery (a
// signal-delivery stop). No number may be skipped or repeated, and the chain
// must go on after each thaw.
TEST_F(FreezerTest, SignalsCaughtMidDeliveryAreDeliveredOnce) {
    Child child([](const Channel& channel) {
        struct sigaction action {};
        action.sa_flags = SA_SIGINFO;
        action.sa_sigaction = [](int, siginfo_t* info, void*) {
            Shared* shared = shared_page();
            int expected = shared->handled.load();
            if (info->si_value.sival_int != expected) shared->errors.fetch_add(1);
            shared->handled.store(expected + 1);
            sigqueue(getpid(), SIGRTMIN, sigval{expected + 1});
        };
        sigaction(SIGRTMIN, &action, nullptr);
        channel.send("ready");
        for (;;) pause();
    });
    ASSERT_EQ(child.receive(), "ready");
    shared_page()->handled = 0;
    shared_page()->errors = 0;
    ASSERT_EQ(sigqueue(child.pid(), SIGRTMIN, sigval{0}), 0);
    for (int round = 0; round < 100; round++) {
        auto frozen = Freezer::freeze(child.pid());
        ASSERT_TRUE(frozen) << frozen.error().message();
        int handled = shared_page()->handled.load();
        usleep(1000);
        ASSERT_EQ(shared_page()->handled.load(), handled) << "a handler ran while frozen";
        ASSERT_TRUE((*frozen)->thaw());
        ASSERT_TRUE(wait_until([&] { return shared_page()->handled.load() > handled; }))
            << "the signal chain stopped: a signal was lost";
    }
    EXPECT_EQ(shared_page()->errors.load(), 0);
}

TEST_F(FreezerTest, AStoppedProcessStaysStopped) {
    Child child([](const Channel&) { spin_forever(); });
    ASSERT_EQ(::kill(child.pid(), SIGSTOP), 0);
    int status = 0;
    ASSERT_EQ(waitpid(child.pid(), &status, WUNTRACED), child.pid());
    ASSERT_TRUE(WIFSTOPPED(status));
    {
        auto frozen = Freezer::freeze(child.pid());
        ASSERT_TRUE(frozen) << frozen.error().message();
        ASSERT_TRUE((*frozen)->thaw());
    }
    uint64_t spins = shared_page()->spins.load();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    EXPECT_EQ(thread_state(child.pid(), child.pid()), 'T');
    EXPECT_EQ(shared_page()->spins.load(), spins);
    ASSERT_EQ(::kill(child.pid(), SIGCONT), 0);
    EXPECT_TRUE(wait_until([&] { return shared_page()->spins.load() > spins; }));
}

TEST_F(FreezerTest, CatchesThreadsStartedWhileFreezing) {
    Child child([](const Channel& channel) {
        channel.send("ready");
        // Keeps starting threads that live on, so some start mid-freeze.
        for (int i = 0; i < 200; i++) {
            std::thread([] { pause(); }).detach();
            usleep(200);
        }
        pause();
    });
    ASSERT_EQ(child.receive(), "ready");
    for (int round = 0; round < 5; round++) {
        auto frozen = Freezer::freeze(child.pid());
        ASSERT_TRUE(frozen) << frozen.error().message();
        auto listed = list_threads(child.pid());
        ASSERT_TRUE(listed);
        EXPECT_EQ((*frozen)->threads(), *listed);
        for (pid_t tid : *listed) EXPECT_EQ(thread_state(child.pid(), tid), 't') << tid;
        ASSERT_TRUE((*frozen)->thaw());
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

TEST_F(FreezerTest, DestructorThawsAndKillEndsTheProcess) {
    Child child(busy_child);
    ASSERT_EQ(child.receive(), "ready");
    {
        auto frozen = Freezer::freeze(child.pid());
        ASSERT_TRUE(frozen) << frozen.error().message();
    }
    uint64_t spins = shared_page()->spins.load();
    EXPECT_TRUE(wait_until([&] { return shared_page()->spins.load() > spins; }));

    auto frozen = Freezer::freeze(child.pid());
    ASSERT_TRUE(frozen) << frozen.error().message();
    ASSERT_TRUE((*frozen)->kill());
    // The test is both tracer and parent, so kill() has reaped it.
    EXPECT_EQ(::kill(child.pid(), 0), -1);
    EXPECT_EQ(errno, ESRCH);
    EXPECT_EQ(child.reap(), -1);
}

// As crib's CLI sees it: the process is someone else's child. kill() waits
// as its tracer only; the parent still reaps it and sees SIGKILL.
TEST_F(FreezerTest, KillLeavesTheExitStatusToTheParent) {
    Child parent([](const Channel& channel) {
        pid_t worker = fork();
        if (worker == 0) {
            std::thread(spin_forever).detach();
            spin_forever();
        }
        channel.send(std::to_string(worker));
        int status = 0;
        pid_t got = waitpid(worker, &status, 0);
        channel.send(fmt::format("reaped {} {}", got == worker,
                                 WIFSIGNALED(status) ? WTERMSIG(status) : -1));
        pause();
    });
    pid_t worker = std::stoi(parent.receive());
    auto frozen = Freezer::freeze(worker);
    ASSERT_TRUE(frozen) << frozen.error().message();
    ASSERT_TRUE((*frozen)->kill());
    EXPECT_EQ(parent.receive(), "reaped true 9");
}

// A vfork parent sleeps uninterruptibly until its child execs or exits;
// ptrace could seize it but not stop it, and not let it go either. The
// freezer waits for it a bounded time and refuses without touching the
// process, or freezes it once the vfork is over.
TEST_F(FreezerTest, WaitsOutAVforkOrRefusesLeavingTheProcessAlone) {
    Child parent([](const Channel& channel) {
        channel.send("ready");
        if (vfork() == 0) {
            const timespec nap{1, 500'000'000};
            nanosleep(&nap, nullptr);
            _exit(0);
        }
        channel.send("back");
        pause();
    });
    ASSERT_EQ(parent.receive(), "ready");
    ASSERT_TRUE(wait_until([&] { return thread_state(parent.pid(), parent.pid()) == 'D'; }));

    auto refused = Freezer::freeze(parent.pid(), std::chrono::milliseconds(100));
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code(), EAGAIN);
    EXPECT_NE(refused.error().message().find(fmt::format("thread {} of process {} stayed in "
                                                         "uninterruptible sleep",
                                                         parent.pid(), parent.pid())),
              std::string::npos)
        << refused.error().message();
    EXPECT_EQ(tracer_of(parent.pid()), 0);

    auto frozen = Freezer::freeze(parent.pid());
    ASSERT_TRUE(frozen) << frozen.error().message();
    ASSERT_TRUE((*frozen)->thaw());
    EXPECT_EQ(parent.receive(), "back");
}

}  // namespace
}  // namespace crib::proc
