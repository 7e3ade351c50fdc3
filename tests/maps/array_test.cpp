// array and percpu_array: kernel semantics, layout, and concurrent use.
#include <sys/mman.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "map_test_util.hpp"

namespace crib::maps {
namespace {

using test::code_of;
using test::make_map;
using test::spec_of;

TEST(Array, LookupUpdateFlags) {
    auto map = make_map(spec_of(MapType::Array, 4, 12, 4));
    ASSERT_TRUE(map);
    uint32_t key = 2;
    char value[12] = "hello world";
    char out[12] = {};
    ASSERT_TRUE(map->lookup(&key, out).ok());
    EXPECT_EQ(std::memcmp(out, std::string(12, '\0').data(), 12), 0);  // zero-filled
    EXPECT_TRUE(map->update(&key, value, kAny).ok());
    EXPECT_TRUE(map->update(&key, value, kExist).ok());
    EXPECT_EQ(code_of(map->update(&key, value, kNoExist)), EEXIST);
    EXPECT_EQ(code_of(map->update(&key, value, 3)), EINVAL);
    EXPECT_EQ(code_of(map->update(&key, value, 8)), EINVAL);
    EXPECT_EQ(code_of(map->update(&key, value, kLock)), EINVAL);
    ASSERT_TRUE(map->lookup(&key, out).ok());
    EXPECT_EQ(std::memcmp(out, value, 12), 0);
}

TEST(Array, OutOfRange) {
    auto map = make_map(spec_of(MapType::Array, 4, 8, 4));
    ASSERT_TRUE(map);
    uint32_t key = 4;
    uint64_t value = 1;
    EXPECT_EQ(code_of(map->update(&key, &value, kAny)), E2BIG);
    EXPECT_EQ(code_of(map->lookup(&key, &value)), ENOENT);
    EXPECT_EQ(map->lookup_elem(&key), nullptr);
    EXPECT_EQ(map->update_elem(&key, &value, kAny), -E2BIG);
    key = 0;
    EXPECT_EQ(code_of(map->remove(&key)), EINVAL);
    EXPECT_EQ(map->delete_elem(&key), -EINVAL);
    EXPECT_EQ(map->update_elem(&key, &value, kNoExist), -EEXIST);
    EXPECT_EQ(map->update_elem(&key, &value, 7), -EINVAL);
}

TEST(Array, NextKey) {
    auto map = make_map(spec_of(MapType::Array, 4, 8, 3));
    ASSERT_TRUE(map);
    uint32_t next = 99;
    ASSERT_TRUE(map->next_key(nullptr, &next).ok());
    EXPECT_EQ(next, 0u);
    uint32_t key = 0;
    ASSERT_TRUE(map->next_key(&key, &next).ok());
    EXPECT_EQ(next, 1u);
    key = 1;
    ASSERT_TRUE(map->next_key(&key, &next).ok());
    EXPECT_EQ(next, 2u);
    key = 2;
    EXPECT_EQ(code_of(map->next_key(&key, &next)), ENOENT);
    key = 100;  // out of range restarts
    ASSERT_TRUE(map->next_key(&key, &next).ok());
    EXPECT_EQ(next, 0u);
}

TEST(Array, ProgramSideSharesStorageAndLayout) {
    auto map = make_map(spec_of(MapType::Array, 4, 12, 4));
    ASSERT_TRUE(map);
    auto* base = static_cast<std::byte*>(map->direct_value());
    ASSERT_NE(base, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(base) % 8, 0u);
    for (uint32_t i = 0; i < 4; ++i) {
        // Values are contiguous, each rounded up to 8 bytes.
        EXPECT_EQ(map->lookup_elem(&i), base + i * 16);
    }
    uint32_t key = 3;
    uint32_t word = 0xabcd;
    std::memcpy(map->lookup_elem(&key), &word, 4);
    uint32_t out[3];
    ASSERT_TRUE(map->lookup(&key, out).ok());
    EXPECT_EQ(out[0], 0xabcdu);
    uint32_t value[3] = {1, 2, 3};
    EXPECT_EQ(map->update_elem(&key, value, kAny), 0);
    EXPECT_EQ(std::memcmp(base + 48, value, 12), 0);
    EXPECT_EQ(map->mmap_fd(), -1);
}

TEST(Array, MmapableSharesMemoryThroughFd) {
    auto map = make_map(spec_of(MapType::Array, 4, 8, 16, kMmapable));
    ASSERT_TRUE(map);
    ASSERT_GE(map->mmap_fd(), 0);
    void* view = mmap(nullptr, 16 * 8, PROT_READ | PROT_WRITE, MAP_SHARED, map->mmap_fd(), 0);
    ASSERT_NE(view, MAP_FAILED);
    uint32_t key = 5;
    uint64_t value = 0x1122334455667788;
    ASSERT_TRUE(map->update(&key, &value, kAny).ok());
    EXPECT_EQ(static_cast<uint64_t*>(view)[5], value);
    static_cast<uint64_t*>(view)[6] = 42;
    key = 6;
    ASSERT_TRUE(map->lookup(&key, &value).ok());
    EXPECT_EQ(value, 42u);
    munmap(view, 16 * 8);
}

TEST(Array, ConcurrentCountersAreLockFree) {
    constexpr uint32_t kEntries = 8;
    constexpr int kThreads = 8, kRounds = 20000;
    auto map = make_map(spec_of(MapType::Array, 4, 8, kEntries));
    ASSERT_TRUE(map);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < kRounds; ++i) {
                uint32_t key = (t + i) % kEntries;
                auto* slot = static_cast<uint64_t*>(map->lookup_elem(&key));
                std::atomic_ref<uint64_t>(*slot).fetch_add(1, std::memory_order_relaxed);
            }
        });
    }
    for (auto& thread : threads) thread.join();
    uint64_t total = 0;
    for (uint32_t key = 0; key < kEntries; ++key) {
        uint64_t value;
        ASSERT_TRUE(map->lookup(&key, &value).ok());
        total += value;
    }
    EXPECT_EQ(total, uint64_t{kThreads} * kRounds);
}

TEST(PercpuArray, SlotPerCpu) {
    unsigned ncpus = possible_cpus();
    auto map = make_map(spec_of(MapType::PercpuArray, 4, 4, 2));
    ASSERT_TRUE(map);
    EXPECT_EQ(map->user_value_size(), 8u * ncpus);  // rounded up to 8, per CPU
    EXPECT_EQ(map->direct_value(), nullptr);

    std::vector<uint64_t> values(ncpus);
    for (unsigned cpu = 0; cpu < ncpus; ++cpu) values[cpu] = 100 + cpu;
    uint32_t key = 1;
    ASSERT_TRUE(map->update(&key, values.data(), kAny).ok());
    EXPECT_EQ(code_of(map->update(&key, values.data(), kNoExist)), EEXIST);
    std::vector<uint64_t> out(ncpus);
    ASSERT_TRUE(map->lookup(&key, out.data()).ok());
    EXPECT_EQ(out, values);

    // The program side sees (and writes) only this CPU's slot. Pin to be sure
    // which one that is.
    cpu_set_t old_set;
    ASSERT_EQ(sched_getaffinity(0, sizeof old_set, &old_set), 0);
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
    ASSERT_EQ(current_cpu(), 0u);
    auto* mine = static_cast<uint32_t*>(map->lookup_elem(&key));
    ASSERT_NE(mine, nullptr);
    EXPECT_EQ(*mine, 100u);
    uint32_t update = 7;
    EXPECT_EQ(map->update_elem(&key, &update, kAny), 0);
    sched_setaffinity(0, sizeof old_set, &old_set);
    ASSERT_TRUE(map->lookup(&key, out.data()).ok());
    EXPECT_EQ(out[0], 7u);
    for (unsigned cpu = 1; cpu < ncpus; ++cpu) EXPECT_EQ(out[cpu], 100u + cpu);

    key = 2;
    EXPECT_EQ(code_of(map->update(&key, values.data(), kAny)), E2BIG);
    EXPECT_EQ(code_of(map->lookup(&key, out.data())), ENOENT);
    EXPECT_EQ(map->lookup_elem(&key), nullptr);
    EXPECT_EQ(code_of(map->remove(&key)), EINVAL);
    uint32_t next;
    key = 1;
    EXPECT_EQ(code_of(map->next_key(&key, &next)), ENOENT);
    ASSERT_TRUE(map->next_key(nullptr, &next).ok());
    EXPECT_EQ(next, 0u);
}

TEST(PercpuArray, ConcurrentPerCpuCounters) {
    unsigned ncpus = possible_cpus();
    constexpr int kThreads = 8, kRounds = 20000;
    auto map = make_map(spec_of(MapType::PercpuArray, 4, 8, 1));
    ASSERT_TRUE(map);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&] {
            uint32_t key = 0;
            for (int i = 0; i < kRounds; ++i) {
                // Threads can share a CPU slot in user space, so increments
                // are atomic here (a kernel program would not need that).
                auto* slot = static_cast<uint64_t*>(map->lookup_elem(&key));
                std::atomic_ref<uint64_t>(*slot).fetch_add(1, std::memory_order_relaxed);
            }
        });
    }
    for (auto& thread : threads) thread.join();
    std::vector<uint64_t> out(ncpus);
    uint32_t key = 0;
    ASSERT_TRUE(map->lookup(&key, out.data()).ok());
    uint64_t total = 0;
    for (uint64_t v : out) total += v;
    EXPECT_EQ(total, uint64_t{kThreads} * kRounds);
}

}  // namespace
}  // namespace crib::maps
