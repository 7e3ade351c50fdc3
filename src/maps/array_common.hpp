// What array, percpu_array and prog_array share: the u32 index key, its
// bounds rules, get_next_key, and the creation checks of the kernel's
// array_map_alloc_check. Internal to src/maps.
#pragma once

#include <cstring>

#include "maps/common.hpp"

namespace crib::maps::detail {

inline constexpr uint32_t kArrayCreateFlags = kNumaNode | kMmapable | kAccessMask | kInnerMap;

inline uint32_t array_index(const void* key) {
    uint32_t index;
    std::memcpy(&index, key, sizeof index);
    return index;
}

// Updates name an index past the end E2BIG; lookups just find nothing.
inline Status check_update_index(const MapSpec& spec, uint32_t index) {
    if (index >= spec.max_entries) return {E2BIG, "index out of range"};
    return kOk;
}

// A missing or out-of-range key starts over at 0; the last index has no next.
inline Status array_next_key(const MapSpec& spec, const void* key, void* next_out) {
    uint32_t index = key ? array_index(key) : UINT32_MAX;
    uint32_t next = 0;
    if (index < spec.max_entries) {
        if (index == spec.max_entries - 1) return {ENOENT, "no key after the last index"};
        next = index + 1;
    }
    std::memcpy(next_out, &next, sizeof next);
    return kOk;
}

inline Result<void> check_array_spec(const MapSpec& spec, uint32_t allowed_flags, bool percpu) {
    CRIB_TRY(check_sizes_nonzero(spec));
    if (spec.key_size != sizeof(uint32_t))
        return spec_error(spec, EINVAL, "key_size {} must be 4 (a u32 index)", spec.key_size);
    CRIB_TRY(check_flags(spec, allowed_flags));
    if (spec.value_size > INT32_MAX)
        return spec_error(spec, E2BIG, "value_size {} is larger than INT_MAX", spec.value_size);
    if (percpu && round_up8(spec.value_size) > kPcpuMinUnitSize)
        return spec_error(spec, E2BIG, "per-CPU value_size {} exceeds {} bytes", spec.value_size,
                          kPcpuMinUnitSize);
    return {};
}

}  // namespace crib::maps::detail
