// create_map's checks, one per kernel rule, and the type table.
#include <unistd.h>

#include "map_test_util.hpp"

namespace crib::maps {
namespace {

using test::code_of;
using test::spec_of;

struct SpecCase {
    const char* what;
    MapSpec spec;
    int code;  // 0: accepted
};

uint32_t page() {
    return static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
}

std::vector<SpecCase> cases() {
    constexpr uint32_t kMmap = kMmapable;
    return {
        {"array ok", spec_of(MapType::Array, 4, 8, 16), 0},
        {"array zero value", spec_of(MapType::Array, 4, 0, 16), EINVAL},
        {"array zero entries", spec_of(MapType::Array, 4, 8, 0), EINVAL},
        {"array zero key", spec_of(MapType::Array, 0, 8, 16), EINVAL},
        {"array key 8", spec_of(MapType::Array, 8, 8, 16), EINVAL},
        {"array value > INT_MAX", spec_of(MapType::Array, 4, 0x80000000u, 1), E2BIG},
        {"array bad flag", spec_of(MapType::Array, 4, 8, 1, kNoPrealloc), EINVAL},
        {"array rdonly+wronly", spec_of(MapType::Array, 4, 8, 1, (1u << 3) | (1u << 4)), EINVAL},
        {"array mmapable", spec_of(MapType::Array, 4, 8, 1, kMmap), 0},
        {"percpu_array ok", spec_of(MapType::PercpuArray, 4, 8, 4), 0},
        {"percpu_array mmapable", spec_of(MapType::PercpuArray, 4, 8, 4, kMmap), EINVAL},
        {"percpu_array value too big", spec_of(MapType::PercpuArray, 4, 32769, 1), E2BIG},
        {"percpu_array value at limit", spec_of(MapType::PercpuArray, 4, 32768, 1), 0},
        {"percpu_array key 2", spec_of(MapType::PercpuArray, 2, 8, 4), EINVAL},
        {"prog_array ok", spec_of(MapType::ProgArray, 4, 4, 8), 0},
        {"prog_array value 8", spec_of(MapType::ProgArray, 4, 8, 8), EINVAL},
        {"prog_array mmapable", spec_of(MapType::ProgArray, 4, 4, 8, kMmap), EINVAL},
        {"prog_array zero entries", spec_of(MapType::ProgArray, 4, 4, 0), EINVAL},
        {"hash ok", spec_of(MapType::Hash, 16, 64, 100), 0},
        {"hash zero key", spec_of(MapType::Hash, 0, 8, 1), EINVAL},
        {"hash zero value", spec_of(MapType::Hash, 4, 0, 1), EINVAL},
        {"hash zero entries", spec_of(MapType::Hash, 4, 8, 0), EINVAL},
        {"hash key too big", spec_of(MapType::Hash, 513, 8, 1), E2BIG},
        {"hash key at limit", spec_of(MapType::Hash, 512, 8, 1), 0},
        {"hash value too big", spec_of(MapType::Hash, 4, 4u << 20, 1), E2BIG},
        {"hash mmapable", spec_of(MapType::Hash, 4, 8, 1, kMmap), EINVAL},
        {"hash no_prealloc", spec_of(MapType::Hash, 4, 8, 1, kNoPrealloc), 0},
        {"hash no_common_lru", spec_of(MapType::Hash, 4, 8, 1, 1u << 1), EINVAL},
        {"hash max_entries > 2^31", spec_of(MapType::Hash, 4, 8, 0x80000001u), E2BIG},
        {"lru_hash ok", spec_of(MapType::LruHash, 4, 8, 16), 0},
        {"lru_hash no_prealloc", spec_of(MapType::LruHash, 4, 8, 16, kNoPrealloc), EOPNOTSUPP},
        {"lru_hash no_common_lru", spec_of(MapType::LruHash, 4, 8, 16, 1u << 1), 0},
        {"percpu_hash value too big", spec_of(MapType::PercpuHash, 4, 40000, 1), E2BIG},
        {"percpu_hash ok", spec_of(MapType::PercpuHash, 4, 8, 4), 0},
        {"lru_percpu_hash ok", spec_of(MapType::LruPercpuHash, 4, 8, 4), 0},
        {"ringbuf ok", spec_of(MapType::Ringbuf, 0, 0, 4 * page()), 0},
        {"ringbuf key", spec_of(MapType::Ringbuf, 4, 0, 4 * page()), EINVAL},
        {"ringbuf value", spec_of(MapType::Ringbuf, 0, 4, 4 * page()), EINVAL},
        {"ringbuf not power of 2", spec_of(MapType::Ringbuf, 0, 0, 3 * page()), EINVAL},
        {"ringbuf not page aligned", spec_of(MapType::Ringbuf, 0, 0, page() / 2), EINVAL},
        {"ringbuf zero", spec_of(MapType::Ringbuf, 0, 0, 0), EINVAL},
        {"ringbuf bad flag", spec_of(MapType::Ringbuf, 0, 0, page(), kMmap), EINVAL},
        {"unspec type", spec_of(MapType::Unspec, 4, 4, 1), EOPNOTSUPP},
        {"unknown type", spec_of(static_cast<MapType>(99), 4, 4, 1), EOPNOTSUPP},
    };
}

TEST(MapSpec, KernelRules) {
    for (const SpecCase& c : cases()) {
        auto map = create_map(c.spec);
        EXPECT_EQ(code_of(map), c.code)
            << c.what << ": " << (map.ok() ? "accepted" : map.error().to_string());
        if (map.ok()) {
            EXPECT_EQ((*map)->type(), c.spec.type) << c.what;
        }
    }
}

TEST(MapSpec, ErrorsNameTheMapAndTheRule) {
    auto map = create_map(spec_of(MapType::Array, 8, 4, 1, 0, "counters"));
    ASSERT_FALSE(map.ok());
    EXPECT_NE(map.error().message().find("'counters'"), std::string::npos);
    EXPECT_NE(map.error().message().find("key_size 8 must be 4"), std::string::npos);

    auto ring = create_map(spec_of(MapType::Ringbuf, 0, 0, 12345, 0, "events"));
    ASSERT_FALSE(ring.ok());
    EXPECT_NE(ring.error().message().find("'events'"), std::string::npos);
    EXPECT_NE(ring.error().message().find("power of 2"), std::string::npos);

    auto unknown = create_map(spec_of(static_cast<MapType>(99), 4, 4, 1, 0, "odd"));
    ASSERT_FALSE(unknown.ok());
    EXPECT_NE(unknown.error().message().find("'odd'"), std::string::npos);
}

TEST(MapSpec, TypeNames) {
    EXPECT_EQ(map_type_name(MapType::Hash), "hash");
    EXPECT_EQ(map_type_name(MapType::Array), "array");
    EXPECT_EQ(map_type_name(MapType::ProgArray), "prog_array");
    EXPECT_EQ(map_type_name(MapType::PercpuHash), "percpu_hash");
    EXPECT_EQ(map_type_name(MapType::PercpuArray), "percpu_array");
    EXPECT_EQ(map_type_name(MapType::LruHash), "lru_hash");
    EXPECT_EQ(map_type_name(MapType::LruPercpuHash), "lru_percpu_hash");
    EXPECT_EQ(map_type_name(MapType::Ringbuf), "ringbuf");
    EXPECT_EQ(map_type_name(MapType::Unspec), "unknown");
}

TEST(MapSpec, UnsupportedOpsAreEopnotsupp) {
    auto ring = test::make_map(spec_of(MapType::Ringbuf, 0, 0, page()));
    ASSERT_TRUE(ring);
    uint32_t key = 0, value = 0;
    EXPECT_EQ(code_of(ring->lookup(&key, &value)), EOPNOTSUPP);
    EXPECT_EQ(code_of(ring->update(&key, &value, kAny)), EOPNOTSUPP);
    EXPECT_EQ(code_of(ring->remove(&key)), EOPNOTSUPP);
    EXPECT_EQ(code_of(ring->next_key(nullptr, &key)), EOPNOTSUPP);
    EXPECT_EQ(ring->lookup_elem(&key), nullptr);
    EXPECT_EQ(ring->update_elem(&key, &value, kAny), -EOPNOTSUPP);
    EXPECT_EQ(ring->delete_elem(&key), -EOPNOTSUPP);
}

TEST(Cpus, PossibleAndCurrent) {
    unsigned n = possible_cpus();
    EXPECT_GE(n, 1u);
    EXPECT_LT(current_cpu(), n);
}

}  // namespace
}  // namespace crib::maps
