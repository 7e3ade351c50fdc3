// Ringbuf helpers: thin calls into the ringbuf map's program-side functions
// in src/maps. Until that header exists this file builds to stubs that fail
// the way an unsupported map does (NULL reservation, -EOPNOTSUPP).
#include <cerrno>

#include "maps/map.hpp"
#include "progs/helper_impls.hpp"

#if __has_include("maps/ringbuf.hpp")
#include "maps/ringbuf.hpp"
#define CRIB_PROGS_HAVE_RINGBUF 1
#endif

namespace crib::progs::impl {

#ifdef CRIB_PROGS_HAVE_RINGBUF

namespace {
maps::Map& as_map(u64 r) { return *reinterpret_cast<maps::Map*>(r); }
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

#else

u64 ringbuf_output(u64, u64, u64, u64, u64) { return neg(EOPNOTSUPP); }
u64 ringbuf_reserve(u64, u64, u64, u64, u64) { return 0; }
u64 ringbuf_submit(u64, u64, u64, u64, u64) { return 0; }
u64 ringbuf_discard(u64, u64, u64, u64, u64) { return 0; }
u64 ringbuf_query(u64, u64, u64, u64, u64) { return 0; }

#endif

}  // namespace crib::progs::impl
