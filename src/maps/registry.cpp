// The list of map types. create_map and map_type_name both read it, so a
// type is known everywhere once its row is here.
#include <array>

#include "maps/registry.hpp"

namespace crib::maps {
namespace {

using detail::MapTypeOps;

constexpr std::array<const MapTypeOps*, 8> kMapTypes{
    &detail::kHashType,          &detail::kArrayType,       &detail::kProgArrayType,
    &detail::kPercpuHashType,    &detail::kPercpuArrayType, &detail::kLruHashType,
    &detail::kLruPercpuHashType, &detail::kRingbufType,
};

const MapTypeOps* find_type(MapType type) {
    for (const MapTypeOps* ops : kMapTypes)
        if (ops->type == type) return ops;
    return nullptr;
}

}  // namespace

Result<std::unique_ptr<Map>> create_map(const MapSpec& spec) {
    const MapTypeOps* ops = find_type(spec.type);
    if (!ops)
        return make_error(EOPNOTSUPP, "map '{}': map type {} is not supported", spec.name,
                          static_cast<uint32_t>(spec.type));
    CRIB_TRY(ops->check(spec));
    return ops->create(spec);
}

std::string_view map_type_name(MapType type) {
    const MapTypeOps* ops = find_type(type);
    return ops ? ops->name : "unknown";
}

}  // namespace crib::maps
