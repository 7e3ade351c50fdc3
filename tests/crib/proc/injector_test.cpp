// Syscalls run inside a frozen child's threads: results come from the right
// thread, data passes both ways through the scratch buffer, and the thread
// is left exactly as frozen.
#include "crib/proc/syscall_injector.hpp"

#include <gtest/gtest.h>
#include <sys/syscall.h>

#include <thread>

#include "crib/proc/child.hpp"
#include "crib/proc/freezer.hpp"
#include "crib/proc/ptrace_state.hpp"

namespace crib::proc {
namespace {

using test::Channel;
using test::Child;

TEST(SyscallInjector, RunsSyscallsInTheThreadAndLeavesItAsFrozen) {
    Child child([](const Channel& channel) {
        std::thread([&channel] {
            channel.send(std::to_string(syscall(SYS_gettid)));
            for (;;) pause();
        }).detach();
        for (;;) {
            char command = 0;
            if (read(channel.in_fd(), &command, 1) != 1) _exit(0);
            channel.send("alive");
        }
    });
    pid_t worker = std::stoi(child.receive());
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    auto frozen = Freezer::freeze(child.pid());
    if (!frozen && frozen.error().code() == EPERM && !test::in_ci())
        GTEST_SKIP() << frozen.error().message();
    ASSERT_TRUE(frozen) << frozen.error().message();
    image::Process before;
    ASSERT_TRUE(collect_ptrace_state(**frozen, before));
    {
        auto injector = SyscallInjector::create(**frozen);
        ASSERT_TRUE(injector) << injector.error().message();
        SyscallInjector& inject = **injector;
        EXPECT_EQ(*inject.call(child.pid(), SYS_getpid, {}), child.pid());
        EXPECT_EQ(*inject.call(worker, SYS_gettid, {}), worker);
        EXPECT_EQ(*inject.call(worker, 100000, {}), -ENOSYS);

        // In: a timespec for clock_nanosleep's request; out: what getcwd wrote.
        std::array<uint8_t, 16> nap{};  // {0 s, 1000 ns}
        nap[8] = 0xe8;
        nap[9] = 0x03;
        EXPECT_EQ(*inject.call(worker, SYS_clock_nanosleep,
                               {CLOCK_MONOTONIC, 0, SyscallInjector::kScratch, 0}, nap),
                  0);
        std::array<uint8_t, 64> cwd{};
        int64_t length =
            *inject.call(child.pid(), SYS_getcwd, {SyscallInjector::kScratch, cwd.size()}, cwd);
        char own[64] = {};
        ASSERT_NE(getcwd(own, sizeof(own)), nullptr);
        EXPECT_EQ(length, static_cast<int64_t>(std::strlen(own) + 1));
        EXPECT_STREQ(reinterpret_cast<const char*>(cwd.data()), own);

        std::vector<uint8_t> too_big(SyscallInjector::kScratchSize + 1);
        auto refused = inject.call(worker, SYS_getpid, {}, too_big);
        ASSERT_FALSE(refused);
        EXPECT_EQ(refused.error().code(), EINVAL);
        ASSERT_TRUE(inject.restore());
    }
    image::Process after;
    ASSERT_TRUE(collect_ptrace_state(**frozen, after));
    EXPECT_EQ(before, after);
    ASSERT_TRUE((*frozen)->thaw());
    // The leader's read(2) was restarted, not failed.
    child.send("x");
    EXPECT_EQ(child.receive(), "alive");
}

}  // namespace
}  // namespace crib::proc
