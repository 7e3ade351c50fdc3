// Ringbuf helpers: thin calls into the ringbuf map's program-side functions
// (src/maps/ringbuf.hpp), which own the record layout and the locking.
#include "maps/ringbuf.hpp"

#include "progs/helper_impls.hpp"

namespace crib::progs::impl {
namespace {
maps::Map& as_map(u64 r) {
    return *reinterpret_cast<maps::Map*>(r);
}
}  // namespace

u64 ringbuf_output(u64 map, u64 data, u64 size, u64 flags, u64) {
    return static_cast<u64>(
        maps::ringbuf_output(as_map(map), reinterpret_cast<const void*>(data), size, flags));
}
u64 ringbuf_reserve(u64 map, u64 size, u64 flags, u64, u64) {
    return reinterpret_cast<u64>(maps::ringbuf_reserve(as_map(map), size, flags));
}
u64 ringbuf_submit(u64 sample, u64 flags, u64, u64, u64) {
    maps::ringbuf_submit(reinterpret_cast<void*>(sample), flags);
    return 0;
}
u64 ringbuf_discard(u64 sample, u64 flags, u64, u64, u64) {
    maps::ringbuf_discard(reinterpret_cast<void*>(sample), flags);
    return 0;
}
u64 ringbuf_query(u64 map, u64 flags, u64, u64, u64) {
    return maps::ringbuf_query(as_map(map), flags);
}

}  // namespace crib::progs::impl
