// Helpers the map tests share.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "maps/map.hpp"

namespace crib::maps::test {

inline MapSpec spec_of(MapType type, uint32_t key_size, uint32_t value_size, uint32_t max_entries,
                       uint32_t flags = 0, std::string name = "m") {
    MapSpec spec;
    spec.type = type;
    spec.key_size = key_size;
    spec.value_size = value_size;
    spec.max_entries = max_entries;
    spec.flags = flags;
    spec.name = std::move(name);
    return spec;
}

inline std::unique_ptr<Map> make_map(const MapSpec& spec) {
    auto map = create_map(spec);
    EXPECT_TRUE(map.ok()) << (map.ok() ? "" : map.error().to_string());
    return map.ok() ? std::move(map).value() : nullptr;
}

// The errno of a failed Result, 0 when it succeeded.
template <typename T>
int code_of(const Result<T>& result) {
    return result.ok() ? 0 : result.error().code();
}

// Keys in next_key order, stopping after `limit` (a walk racing deletes can
// restart from the first key).
template <typename K>
std::vector<K> keys_of(const Map& map, size_t limit = 1u << 20) {
    std::vector<K> keys;
    K cur, next;
    if (!map.next_key(nullptr, &cur).ok()) return keys;
    keys.push_back(cur);
    while (keys.size() < limit && map.next_key(&cur, &next).ok()) {
        keys.push_back(next);
        cur = next;
    }
    return keys;
}

}  // namespace crib::maps::test
