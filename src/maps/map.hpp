// The map interface every map type implements, and the type registry.
//
// Two sets of operations, as in the kernel:
//  - user-side (the bpf() syscall's BPF_MAP_*_ELEM): copy keys and values in
//    and out; per-CPU maps take and return value_size * possible_cpus() bytes;
//  - program-side (helpers): lookup returns a pointer into the map's storage
//    (this CPU's slot for per-CPU maps) that stays valid while the program
//    runs; update/delete return 0 or a negative errno.
// An operation a type does not implement answers EOPNOTSUPP from here.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/result.hpp"

namespace crib::maps {

// The kernel's numbering (enum bpf_map_type).
enum class MapType : uint32_t {
    Unspec = 0,
    Hash = 1,
    Array = 2,
    ProgArray = 3,
    PercpuHash = 5,
    PercpuArray = 6,
    LruHash = 9,
    LruPercpuHash = 10,
    Ringbuf = 27,
};

// Update flags (BPF_ANY, BPF_NOEXIST, BPF_EXIST, BPF_F_LOCK).
inline constexpr uint64_t kAny = 0, kNoExist = 1, kExist = 2, kLock = 4;
// Map creation flags.
inline constexpr uint32_t kNoPrealloc = 1u << 0, kRdonlyProg = 1u << 7, kMmapable = 1u << 10;

struct MapSpec {
    MapType type = MapType::Unspec;
    uint32_t key_size = 0;
    uint32_t value_size = 0;
    uint32_t max_entries = 0;
    uint32_t flags = 0;
    std::string name;
};

// Number of possible CPUs: per-CPU maps keep one slot for each.
unsigned possible_cpus();
// The slot the calling thread uses (sched_getcpu, bounded by possible_cpus).
unsigned current_cpu();

class Map {
public:
    explicit Map(MapSpec spec) : m_spec(std::move(spec)) {}
    virtual ~Map() = default;
    Map(const Map&) = delete;
    Map& operator=(const Map&) = delete;

    const MapSpec& spec() const { return m_spec; }
    MapType type() const { return m_spec.type; }
    // Bytes a user-side value holds: value_size, times possible_cpus() for
    // per-CPU types.
    virtual size_t user_value_size() const { return m_spec.value_size; }

    // User side.
    virtual Result<void> lookup(const void* key, void* value_out) const;
    virtual Result<void> update(const void* key, const void* value, uint64_t flags);
    virtual Result<void> remove(const void* key);
    // First key when key is null; ENOENT after the last.
    virtual Result<void> next_key(const void* key, void* next_key_out) const;

    // Program side.
    virtual void* lookup_elem(const void* key);
    virtual long update_elem(const void* key, const void* value, uint64_t flags);
    virtual long delete_elem(const void* key);

    // Arrays with one value region (array, global data): its base address, so
    // ld_imm64 map-value relocations can point into it. Null otherwise.
    virtual void* direct_value() { return nullptr; }

    // A memfd holding the map's mmap-able memory (arrays created with
    // kMmapable, ringbuf), so the runtime can map it again; -1 otherwise.
    // The map owns the fd.
    virtual int mmap_fd() const { return -1; }

private:
    MapSpec m_spec;
};

// Checks a spec against the kernel's rules for its type and creates the map.
// Errors name the map and the rule (E2BIG, EINVAL, EOPNOTSUPP for an unknown
// type).
Result<std::unique_ptr<Map>> create_map(const MapSpec& spec);

// Kernel name of a type ("hash", "array", "ringbuf"...), or "unknown".
std::string_view map_type_name(MapType type);

}  // namespace crib::maps

namespace crib::maps {

// prog_array: the user writes a program fd as the value; the runtime supplies
// the resolver that turns it into a program handle, kept alive by the slot.
class ProgArray;
using ProgResolver = std::function<std::shared_ptr<const void>(uint32_t prog_fd)>;
void set_prog_resolver(Map& prog_array, ProgResolver resolver);
// As above, plus how to name a handle's program id: the kernel's user-side
// lookup of a prog_array answers the program id. Without it lookup is
// EOPNOTSUPP.
using ProgIdOf = std::function<uint32_t(const void* handle)>;
void set_prog_resolver(Map& prog_array, ProgResolver resolver, ProgIdOf id_of);
// Empties a prog_array and drops every handle it kept, when its last user
// reference goes (see ~runtime::LoadedObject). No program may still run
// through it.
void prog_array_clear(Map& prog_array);
// Program-side read of a prog_array slot: the handle, or null when empty or
// out of range.
const void* prog_array_get(const Map& prog_array, uint64_t index);

}  // namespace crib::maps
