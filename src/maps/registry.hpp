// One row per map type: what create_map and map_type_name read. Each type's
// file defines its row; registry.cpp lists them. Adding a type is one file
// and one line there. Internal to src/maps.
#pragma once

#include <memory>
#include <string_view>

#include "base/result.hpp"
#include "maps/map.hpp"

namespace crib::maps::detail {

struct MapTypeOps {
    MapType type;
    std::string_view name;  // the kernel's name (bpf_map_type without the prefix, lower case)
    Result<void> (*check)(const MapSpec& spec);
    Result<std::unique_ptr<Map>> (*create)(const MapSpec& spec);
};

extern const MapTypeOps kHashType, kArrayType, kProgArrayType, kPercpuHashType, kPercpuArrayType,
    kLruHashType, kLruPercpuHashType, kRingbufType;

}  // namespace crib::maps::detail
