// Map helpers and the callback helpers (bpf_loop, bpf_for_each_map_elem).
// A map arrives in r1 as the maps::Map* the loader put in the ld_imm64.
#include <cerrno>
#include <vector>

#include "maps/map.hpp"
#include "progs/helper_impls.hpp"
#include "progs/helpers.hpp"

namespace crib::progs::impl {
namespace {

maps::Map* as_map(u64 r) {
    return reinterpret_cast<maps::Map*>(r);
}
const void* as_ptr(u64 r) {
    return reinterpret_cast<const void*>(r);
}

}  // namespace

u64 map_lookup_elem(u64 map, u64 key, u64, u64, u64) {
    return reinterpret_cast<u64>(as_map(map)->lookup_elem(as_ptr(key)));
}

u64 map_update_elem(u64 map, u64 key, u64 value, u64 flags, u64) {
    return static_cast<u64>(as_map(map)->update_elem(as_ptr(key), as_ptr(value), flags));
}

u64 map_delete_elem(u64 map, u64 key, u64, u64, u64) {
    return static_cast<u64>(as_map(map)->delete_elem(as_ptr(key)));
}

// bpf_loop: calls callback(i, ctx) for i in [0, nr) until it returns 1, and
// returns the number of calls made (kernel/bpf/bpf_iter.c).
u64 loop(u64 nr_loops, u64 callback, u64 ctx, u64 flags, u64) {
    if (flags) return neg(EINVAL);
    if (nr_loops > kMaxLoops) return neg(E2BIG);
    const auto* cb = reinterpret_cast<const Callable*>(callback);
    u64 i = 0;
    while (i < nr_loops) {
        u64 ret = cb->invoke(cb, i, ctx, 0, 0, 0);
        ++i;
        // The verifier holds callbacks to return 0 or 1.
        if (ret) break;
    }
    return i;
}

// bpf_for_each_map_elem: callback(map, key, value, ctx) per element until it
// returns 1; returns the number of elements visited. Keys are walked with
// next_key and values found with the program-side lookup, so per-CPU maps
// hand out this CPU's slot as the kernel does. The key buffer is the
// callback's to read; a copy keeps the walk safe from what it does to it.
u64 for_each_map_elem(u64 map_reg, u64 callback, u64 ctx, u64 flags, u64) {
    if (flags) return neg(EINVAL);
    maps::Map* map = as_map(map_reg);
    const auto* cb = reinterpret_cast<const Callable*>(callback);
    const size_t key_size = map->spec().key_size;
    std::vector<uint8_t> key(key_size), next(key_size), passed(key_size);
    bool first = true;
    u64 visited = 0;
    for (;;) {
        if (!map->next_key(first ? nullptr : key.data(), next.data()).ok()) break;
        first = false;
        key.swap(next);
        void* value = map->lookup_elem(key.data());
        // Deleted between next_key and lookup: the kernel skips it too.
        if (!value) continue;
        passed = key;
        ++visited;
        if (cb->invoke(cb, map_reg, reinterpret_cast<u64>(passed.data()),
                       reinterpret_cast<u64>(value), ctx, 0))
            break;
    }
    return visited;
}

}  // namespace crib::progs::impl
