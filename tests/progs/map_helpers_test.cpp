// Map and ringbuf helpers against real maps from src/maps.
#include <linux/bpf.h>

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <vector>

#include "helper_call.hpp"
#include "maps/map.hpp"
#include "maps/ringbuf.hpp"
#include "progs/helpers.hpp"

namespace crib::progs {
namespace {

// Creates a map, or skips the test when src/maps does not offer the type yet.
#define MAKE_MAP(var, ...)                                                                  \
    auto var##_result = maps::create_map(maps::MapSpec{__VA_ARGS__});                       \
    if (!var##_result.ok() && var##_result.error().code() == EOPNOTSUPP)                    \
        GTEST_SKIP() << "map type not available yet: " << var##_result.error().to_string(); \
    ASSERT_TRUE(var##_result.ok()) << var##_result.error().to_string();                     \
    maps::Map& var = **var##_result

TEST(MapHelpers, HashLookupUpdateDelete) {
    MAKE_MAP(map, maps::MapType::Hash, 4, 8, 4, 0, "h");
    uint32_t key = 7;
    uint64_t value = 99;
    EXPECT_EQ(call(BPF_FUNC_map_lookup_elem, u(&map), u(&key)), 0u);
    EXPECT_EQ(call(BPF_FUNC_map_update_elem, u(&map), u(&key), u(&value), BPF_ANY), 0u);
    auto* found = reinterpret_cast<uint64_t*>(call(BPF_FUNC_map_lookup_elem, u(&map), u(&key)));
    ASSERT_NE(found, nullptr);
    EXPECT_EQ(*found, 99u);
    // The pointer is the map's storage: a write through it is seen by the user side.
    *found = 100;
    uint64_t out = 0;
    ASSERT_TRUE(map.lookup(&key, &out).ok());
    EXPECT_EQ(out, 100u);
    EXPECT_EQ(s(call(BPF_FUNC_map_update_elem, u(&map), u(&key), u(&value), BPF_NOEXIST)), -EEXIST);
    EXPECT_EQ(call(BPF_FUNC_map_delete_elem, u(&map), u(&key)), 0u);
    EXPECT_EQ(s(call(BPF_FUNC_map_delete_elem, u(&map), u(&key))), -ENOENT);
}

TEST(MapHelpers, ArrayBounds) {
    MAKE_MAP(map, maps::MapType::Array, 4, 4, 2, 0, "a");
    uint32_t in = 1, out = 2;
    uint32_t value = 5;
    EXPECT_NE(call(BPF_FUNC_map_lookup_elem, u(&map), u(&in)), 0u);
    EXPECT_EQ(call(BPF_FUNC_map_lookup_elem, u(&map), u(&out)), 0u);
    EXPECT_EQ(call(BPF_FUNC_map_update_elem, u(&map), u(&in), u(&value), BPF_ANY), 0u);
    EXPECT_EQ(s(call(BPF_FUNC_map_update_elem, u(&map), u(&out), u(&value), BPF_ANY)), -E2BIG);
    EXPECT_EQ(s(call(BPF_FUNC_map_delete_elem, u(&map), u(&in))), -EINVAL);
}

struct Visitor {
    isa::Callable callable{&Visitor::invoke};
    uint64_t stop_after = UINT64_MAX;
    std::map<uint32_t, uint64_t> seen;
    uint64_t map = 0, ctx = 0;
    static uint64_t invoke(const isa::Callable* self, uint64_t map, uint64_t key, uint64_t value,
                           uint64_t ctx, uint64_t) {
        auto* v = const_cast<Visitor*>(reinterpret_cast<const Visitor*>(self));
        v->map = map;
        v->ctx = ctx;
        v->seen[*reinterpret_cast<const uint32_t*>(key)] = *reinterpret_cast<uint64_t*>(value);
        // The value is the map's own storage.
        *reinterpret_cast<uint64_t*>(value) += 1000;
        return v->seen.size() >= v->stop_after ? 1 : 0;
    }
};

TEST(MapHelpers, ForEachMapElemOverHash) {
    MAKE_MAP(map, maps::MapType::Hash, 4, 8, 16, 0, "h");
    for (uint32_t k = 1; k <= 5; ++k) {
        uint64_t v = k * 10;
        ASSERT_TRUE(map.update(&k, &v, maps::kAny).ok());
    }
    Visitor all;
    int ctx = 0;
    EXPECT_EQ(call(BPF_FUNC_for_each_map_elem, u(&map), u(&all.callable), u(&ctx), 0), 5u);
    EXPECT_EQ(all.seen,
              (std::map<uint32_t, uint64_t>{{1, 10}, {2, 20}, {3, 30}, {4, 40}, {5, 50}}));
    EXPECT_EQ(all.map, u(&map));
    EXPECT_EQ(all.ctx, u(&ctx));
    uint32_t k = 3;
    uint64_t v = 0;
    ASSERT_TRUE(map.lookup(&k, &v).ok());
    EXPECT_EQ(v, 1030u);

    Visitor two;
    two.stop_after = 2;
    EXPECT_EQ(call(BPF_FUNC_for_each_map_elem, u(&map), u(&two.callable), 0, 0), 2u);
    EXPECT_EQ(s(call(BPF_FUNC_for_each_map_elem, u(&map), u(&two.callable), 0, 1)), -EINVAL);
}

TEST(MapHelpers, ForEachMapElemOverArrayVisitsEverySlot) {
    MAKE_MAP(map, maps::MapType::Array, 4, 8, 3, 0, "a");
    Visitor all;
    EXPECT_EQ(call(BPF_FUNC_for_each_map_elem, u(&map), u(&all.callable), 0, 0), 3u);
    EXPECT_EQ(all.seen.size(), 3u);
}

TEST(RingbufHelpers, ReserveSubmitOutputQuery) {
    MAKE_MAP(rb, maps::MapType::Ringbuf, 0, 0, 4096, 0, "rb");
    std::vector<std::string> records;
    auto consumer = maps::RingbufConsumer::create(rb, [&](std::span<const uint8_t> r) {
        records.emplace_back(reinterpret_cast<const char*>(r.data()), r.size());
        return 0;
    });
    ASSERT_TRUE(consumer.ok()) << consumer.error().to_string();

    auto* sample = reinterpret_cast<char*>(call(BPF_FUNC_ringbuf_reserve, u(&rb), 5, 0));
    ASSERT_NE(sample, nullptr);
    std::memcpy(sample, "hello", 5);
    EXPECT_EQ(call(BPF_FUNC_ringbuf_query, u(&rb), maps::kRbRingSize), 4096u);
    call(BPF_FUNC_ringbuf_submit, u(sample), 0);

    auto* dropped = reinterpret_cast<char*>(call(BPF_FUNC_ringbuf_reserve, u(&rb), 3, 0));
    ASSERT_NE(dropped, nullptr);
    call(BPF_FUNC_ringbuf_discard, u(dropped), 0);

    EXPECT_EQ(call(BPF_FUNC_ringbuf_output, u(&rb), u("world"), 5, 0), 0u);
    EXPECT_GT(call(BPF_FUNC_ringbuf_query, u(&rb), maps::kRbAvailData), 0u);
    EXPECT_EQ(s(call(BPF_FUNC_ringbuf_output, u(&rb), u("x"), 1, 99)), -EINVAL);
    EXPECT_EQ(call(BPF_FUNC_ringbuf_reserve, u(&rb), 5000, 0), 0u);  // larger than the ring

    EXPECT_EQ(consumer->consume(), 2);
    EXPECT_EQ(records, (std::vector<std::string>{"hello", "world"}));
}

}  // namespace
}  // namespace crib::progs
