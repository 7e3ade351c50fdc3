// hash, lru_hash, percpu_hash, lru_percpu_hash.
#include <atomic>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "map_test_util.hpp"

namespace crib::maps {
namespace {

using test::code_of;
using test::make_map;
using test::spec_of;

TEST(Hash, Flags) {
    auto map = make_map(spec_of(MapType::Hash, 8, 8, 4));
    ASSERT_TRUE(map);
    uint64_t key = 42, value = 1, out = 0;
    EXPECT_EQ(code_of(map->lookup(&key, &out)), ENOENT);
    EXPECT_EQ(code_of(map->update(&key, &value, kExist)), ENOENT);
    EXPECT_TRUE(map->update(&key, &value, kNoExist).ok());
    value = 2;
    EXPECT_EQ(code_of(map->update(&key, &value, kNoExist)), EEXIST);
    EXPECT_TRUE(map->update(&key, &value, kExist).ok());
    ASSERT_TRUE(map->lookup(&key, &out).ok());
    EXPECT_EQ(out, 2u);
    value = 3;
    EXPECT_TRUE(map->update(&key, &value, kAny).ok());
    ASSERT_TRUE(map->lookup(&key, &out).ok());
    EXPECT_EQ(out, 3u);
    EXPECT_EQ(code_of(map->update(&key, &value, 3)), EINVAL);
    EXPECT_EQ(code_of(map->update(&key, &value, kLock)), EINVAL);
    EXPECT_TRUE(map->remove(&key).ok());
    EXPECT_EQ(code_of(map->remove(&key)), ENOENT);
    EXPECT_EQ(code_of(map->lookup(&key, &out)), ENOENT);
}

TEST(Hash, FullIsE2bigUntilSomethingIsDeleted) {
    auto map = make_map(spec_of(MapType::Hash, 4, 4, 3));
    ASSERT_TRUE(map);
    for (uint32_t key = 0; key < 3; ++key) ASSERT_TRUE(map->update(&key, &key, kAny).ok());
    uint32_t key = 3;
    auto full = map->update(&key, &key, kAny);
    EXPECT_EQ(code_of(full), E2BIG);
    EXPECT_NE(full.error().message().find("full"), std::string::npos);
    EXPECT_EQ(map->update_elem(&key, &key, kAny), -E2BIG);
    key = 1;  // existing keys still update when full
    EXPECT_TRUE(map->update(&key, &key, kExist).ok());
    EXPECT_TRUE(map->remove(&key).ok());
    key = 3;
    EXPECT_TRUE(map->update(&key, &key, kAny).ok());
}

TEST(Hash, NextKeyWalksEveryKeyOnce) {
    auto map = make_map(spec_of(MapType::Hash, 4, 4, 64));
    ASSERT_TRUE(map);
    uint32_t next;
    EXPECT_EQ(code_of(map->next_key(nullptr, &next)), ENOENT);
    for (uint32_t key = 100; key < 150; ++key) ASSERT_TRUE(map->update(&key, &key, kAny).ok());
    std::set<uint32_t> seen;
    for (uint32_t key : test::keys_of<uint32_t>(*map)) EXPECT_TRUE(seen.insert(key).second) << key;
    EXPECT_EQ(seen.size(), 50u);
    EXPECT_EQ(*seen.begin(), 100u);

    // A key not in the map starts over at the first key.
    uint32_t first, absent = 7;
    ASSERT_TRUE(map->next_key(nullptr, &first).ok());
    ASSERT_TRUE(map->next_key(&absent, &next).ok());
    EXPECT_EQ(next, first);
}

TEST(Hash, ProgramSidePointersStayValid) {
    auto map = make_map(spec_of(MapType::Hash, 4, 16, 2));
    ASSERT_TRUE(map);
    uint32_t key = 1;
    char value[16] = "abcdefghijklmno";
    EXPECT_EQ(map->update_elem(&key, value, kAny), 0);
    auto* elem = static_cast<char*>(map->lookup_elem(&key));
    ASSERT_NE(elem, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(elem) % 8, 0u);
    EXPECT_STREQ(elem, value);
    elem[0] = 'X';  // programs write through the pointer
    char out[16];
    ASSERT_TRUE(map->lookup(&key, out).ok());
    EXPECT_EQ(out[0], 'X');
    // Other inserts do not move it.
    uint32_t other = 2;
    EXPECT_EQ(map->update_elem(&other, value, kAny), 0);
    EXPECT_EQ(map->lookup_elem(&key), elem);
    // After a delete the memory is still the map's (ASan would catch a free).
    EXPECT_EQ(map->delete_elem(&key), 0);
    EXPECT_EQ(map->delete_elem(&key), -ENOENT);
    EXPECT_EQ(map->lookup_elem(&key), nullptr);
    volatile char touch = elem[1];
    (void)touch;
    EXPECT_EQ(map->update_elem(&key, value, kExist), -ENOENT);
    EXPECT_EQ(map->update_elem(&other, value, kNoExist), -EEXIST);
}

TEST(Hash, LargeKeysAndValues) {
    auto map = make_map(spec_of(MapType::Hash, 37, 101, 8));
    ASSERT_TRUE(map);
    std::vector<uint8_t> key(37), value(101), out(101);
    for (int i = 0; i < 8; ++i) {
        std::fill(key.begin(), key.end(), static_cast<uint8_t>(i));
        std::fill(value.begin(), value.end(), static_cast<uint8_t>(i * 3));
        ASSERT_TRUE(map->update(key.data(), value.data(), kNoExist).ok());
    }
    for (int i = 0; i < 8; ++i) {
        std::fill(key.begin(), key.end(), static_cast<uint8_t>(i));
        ASSERT_TRUE(map->lookup(key.data(), out.data()).ok());
        EXPECT_EQ(out[100], static_cast<uint8_t>(i * 3));
    }
}

TEST(LruHash, EvictsLeastRecentlyUsed) {
    auto map = make_map(spec_of(MapType::LruHash, 4, 4, 4));
    ASSERT_TRUE(map);
    for (uint32_t key = 0; key < 4; ++key) ASSERT_TRUE(map->update(&key, &key, kAny).ok());
    uint32_t used = 0;  // a program touches key 0, so key 1 is now the oldest
    ASSERT_NE(map->lookup_elem(&used), nullptr);
    uint32_t key = 4;
    ASSERT_TRUE(map->update(&key, &key, kAny).ok());  // no E2BIG: evicts
    uint32_t out;
    EXPECT_TRUE(map->lookup(&used, &out).ok());
    key = 1;
    EXPECT_EQ(code_of(map->lookup(&key, &out)), ENOENT);
    for (uint32_t k : {2u, 3u, 4u}) EXPECT_TRUE(map->lookup(&k, &out).ok()) << k;

    // Keep inserting: the map never holds more than max_entries.
    for (uint32_t k = 10; k < 100; ++k) ASSERT_EQ(map->update_elem(&k, &k, kAny), 0);
    EXPECT_EQ(test::keys_of<uint32_t>(*map).size(), 4u);
    for (uint32_t k = 96; k < 100; ++k) EXPECT_TRUE(map->lookup(&k, &out).ok()) << k;
}

TEST(LruHash, SemanticsOtherwiseMatchHash) {
    auto map = make_map(spec_of(MapType::LruHash, 4, 8, 4));
    ASSERT_TRUE(map);
    uint32_t key = 9;
    uint64_t value = 5;
    EXPECT_EQ(code_of(map->update(&key, &value, kExist)), ENOENT);
    EXPECT_TRUE(map->update(&key, &value, kNoExist).ok());
    EXPECT_EQ(code_of(map->update(&key, &value, kNoExist)), EEXIST);
    EXPECT_TRUE(map->remove(&key).ok());
    EXPECT_EQ(code_of(map->remove(&key)), ENOENT);
}

template <typename Fn>
void on_cpu0(Fn fn) {
    cpu_set_t old_set, one;
    ASSERT_EQ(sched_getaffinity(0, sizeof old_set, &old_set), 0);
    CPU_ZERO(&one);
    CPU_SET(0, &one);
    ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
    ASSERT_EQ(current_cpu(), 0u);
    fn();
    sched_setaffinity(0, sizeof old_set, &old_set);
}

void percpu_hash_semantics(MapType type) {
    unsigned ncpus = possible_cpus();
    auto map = make_map(spec_of(type, 4, 4, 8));
    ASSERT_TRUE(map);
    EXPECT_EQ(map->user_value_size(), 8u * ncpus);
    std::vector<uint64_t> values(ncpus), out(ncpus);
    for (unsigned cpu = 0; cpu < ncpus; ++cpu) values[cpu] = 10 + cpu;
    uint32_t key = 1;
    ASSERT_TRUE(map->update(&key, values.data(), kAny).ok());
    ASSERT_TRUE(map->lookup(&key, out.data()).ok());
    EXPECT_EQ(out, values);

    on_cpu0([&] {
        auto* mine = static_cast<uint32_t*>(map->lookup_elem(&key));
        ASSERT_NE(mine, nullptr);
        EXPECT_EQ(*mine, 10u);
        uint32_t v = 77;
        EXPECT_EQ(map->update_elem(&key, &v, kExist), 0);  // this CPU only
        uint32_t fresh = 2;
        EXPECT_EQ(map->update_elem(&fresh, &v, kNoExist), 0);  // others start zeroed
    });
    ASSERT_TRUE(map->lookup(&key, out.data()).ok());
    EXPECT_EQ(out[0], 77u);
    for (unsigned cpu = 1; cpu < ncpus; ++cpu) EXPECT_EQ(out[cpu], 10u + cpu);
    uint32_t fresh = 2;
    ASSERT_TRUE(map->lookup(&fresh, out.data()).ok());
    EXPECT_EQ(out[0], 77u);
    for (unsigned cpu = 1; cpu < ncpus; ++cpu) EXPECT_EQ(out[cpu], 0u);
    EXPECT_TRUE(map->remove(&fresh).ok());
    EXPECT_EQ(code_of(map->lookup(&fresh, out.data())), ENOENT);
}

TEST(PercpuHash, SlotPerCpu) {
    percpu_hash_semantics(MapType::PercpuHash);
}
TEST(LruPercpuHash, SlotPerCpu) {
    percpu_hash_semantics(MapType::LruPercpuHash);
}

TEST(LruPercpuHash, Evicts) {
    unsigned ncpus = possible_cpus();
    auto map = make_map(spec_of(MapType::LruPercpuHash, 4, 8, 2));
    ASSERT_TRUE(map);
    std::vector<uint64_t> values(ncpus, 1);
    for (uint32_t key = 0; key < 10; ++key)
        ASSERT_TRUE(map->update(&key, values.data(), kAny).ok());
    uint32_t key = 9;
    EXPECT_TRUE(map->lookup(&key, values.data()).ok());
    key = 0;
    EXPECT_EQ(code_of(map->lookup(&key, values.data())), ENOENT);
}

// Many threads insert, read, update and delete; each owns a key range whose
// values it checks, and all of them fight over a shared range.
void hammer(MapType type, uint32_t max_entries) {
    constexpr int kThreads = 8, kOwn = 64, kRounds = 300;
    bool lru = type == MapType::LruHash || type == MapType::LruPercpuHash;
    auto map = make_map(spec_of(type, 8, 8, max_entries));
    ASSERT_TRUE(map);
    size_t user_size = map->user_value_size();
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            std::vector<uint64_t> value(user_size / 8), out(user_size / 8);
            for (int round = 0; round < kRounds; ++round) {
                for (uint64_t i = 0; i < kOwn; ++i) {
                    uint64_t key = (uint64_t(t) << 32) | i;
                    std::fill(value.begin(), value.end(), key ^ round);
                    if (!map->update(&key, value.data(), kAny).ok()) ++failures;
                    auto got = map->lookup(&key, out.data());
                    // LRU may evict our key under pressure; otherwise it's there.
                    if (got.ok() ? out[0] != (key ^ uint64_t(round)) : !lru) ++failures;
                    uint64_t shared = (uint64_t{1} << 63) | (i % 16);
                    (void)map->update(&shared, value.data(), kAny);
                    (void)map->lookup_elem(&shared);
                    if (round % 3 == 0) (void)map->remove(&shared);
                    if (i % 2 && !map->remove(&key).ok() && !lru) ++failures;
                }
                (void)test::keys_of<uint64_t>(*map, 50);
            }
        });
    }
    for (auto& thread : threads) thread.join();
    EXPECT_EQ(failures.load(), 0);
    // Every element left is readable, and there are no more than max_entries.
    std::vector<uint64_t> out(user_size / 8);
    auto keys = test::keys_of<uint64_t>(*map);
    EXPECT_LE(keys.size(), max_entries);
    for (uint64_t key : keys) EXPECT_TRUE(map->lookup(&key, out.data()).ok()) << key;
}

TEST(Hash, Concurrent) {
    hammer(MapType::Hash, 8 * 64 + 16);
}
TEST(PercpuHash, Concurrent) {
    hammer(MapType::PercpuHash, 8 * 64 + 16);
}
TEST(LruHash, ConcurrentUnderEvictionPressure) {
    hammer(MapType::LruHash, 100);
}
TEST(LruPercpuHash, ConcurrentUnderEvictionPressure) {
    hammer(MapType::LruPercpuHash, 100);
}

}  // namespace
}  // namespace crib::maps
