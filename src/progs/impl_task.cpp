// Helpers about the calling thread, clocks and randomness. In crib the
// "current task" is the thread running the program.
#include <sched.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cstring>
#include <random>

#include "maps/map.hpp"
#include "progs/helper_impls.hpp"

namespace crib::progs::impl {
namespace {

u64 clock_ns(clockid_t clock) {
    timespec ts{};
    clock_gettime(clock, &ts);
    return static_cast<u64>(ts.tv_sec) * 1'000'000'000ull + static_cast<u64>(ts.tv_nsec);
}

// The kernel's jiffies tick at CONFIG_HZ, which user space cannot read; 250
// is Debian's setting. jiffies64 only needs to be monotonic and coarse.
constexpr u64 kHz = 250;

// xorshift64*: prandom_u32 is not cryptographic either, and this keeps the
// helper to a few instructions with no locking.
struct Prng {
    u64 state;
    Prng() {
        std::random_device rd;
        state = (static_cast<u64>(rd()) << 32 | rd()) ^ static_cast<u64>(gettid());
        if (!state) state = 0x9e3779b97f4a7c15ull;
    }
    uint32_t next() {
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        return static_cast<uint32_t>((state * 0x2545f4914f6cdd1dull) >> 32);
    }
};

}  // namespace

u64 ktime_get_ns(u64, u64, u64, u64, u64) {
    return clock_ns(CLOCK_MONOTONIC);
}
u64 ktime_get_boot_ns(u64, u64, u64, u64, u64) {
    return clock_ns(CLOCK_BOOTTIME);
}
u64 ktime_get_coarse_ns(u64, u64, u64, u64, u64) {
    return clock_ns(CLOCK_MONOTONIC_COARSE);
}
u64 jiffies64(u64, u64, u64, u64, u64) {
    return clock_ns(CLOCK_MONOTONIC_COARSE) / (1'000'000'000ull / kHz);
}

u64 get_prandom_u32(u64, u64, u64, u64, u64) {
    thread_local Prng prng;
    return prng.next();
}

u64 get_smp_processor_id(u64, u64, u64, u64, u64) {
    return maps::current_cpu();
}

u64 get_numa_node_id(u64, u64, u64, u64, u64) {
    unsigned cpu = 0, node = 0;
    if (syscall(SYS_getcpu, &cpu, &node, nullptr) != 0) return 0;
    return node;
}

u64 get_current_pid_tgid(u64, u64, u64, u64, u64) {
    return static_cast<u64>(getpid()) << 32 | static_cast<uint32_t>(gettid());
}

// current_uid_gid() reads the real ids.
u64 get_current_uid_gid(u64, u64, u64, u64, u64) {
    return static_cast<u64>(getgid()) << 32 | static_cast<uint32_t>(getuid());
}

// strscpy_pad of the thread's comm (TASK_COMM_LEN = 16) into buf.
u64 get_current_comm(u64 buf, u64 size, u64, u64, u64) {
    char* out = reinterpret_cast<char*>(buf);
    if (!size) return 0;
    char comm[17] = {};
    prctl(PR_GET_NAME, comm, 0, 0, 0);
    size_t len = strnlen(comm, 16);
    if (len > size - 1) len = size - 1;
    std::memcpy(out, comm, len);
    std::memset(out + len, 0, size - len);
    return 0;
}

}  // namespace crib::progs::impl
