// BPF_MAP_TYPE_PROG_ARRAY: tail-call targets. The user writes a program fd;
// the runtime's resolver turns it into a handle the slot keeps alive.
//
// Programs read slots without a lock (prog_array_get is on the tail-call
// path), so a replaced or deleted handle cannot be dropped at once: a
// program may be about to run it. Without RCU there is no grace period to
// wait for, so retired handles stay alive until the map is destroyed. Tail
// call tables change rarely; the cost is memory, never a dangling program.
#include <atomic>
#include <cstring>
#include <mutex>
#include <vector>

#include "maps/array_common.hpp"
#include "maps/registry.hpp"

namespace crib::maps {

using namespace detail;

class ProgArray final : public Map {
public:
    explicit ProgArray(MapSpec spec)
        : Map(std::move(spec)),
          m_slots(std::make_unique<std::atomic<const void*>[]>(this->spec().max_entries)),
          m_owners(this->spec().max_entries) {}

    void set_resolver(ProgResolver resolver, ProgIdOf id_of) {
        std::lock_guard guard(m_mutex);
        m_resolver = std::move(resolver);
        m_id_of = std::move(id_of);
    }

    const void* get(uint64_t index) const {
        if (index >= spec().max_entries) return nullptr;
        return m_slots[index].load(std::memory_order_acquire);
    }

    // The kernel answers the program's id, not the fd that was written.
    Result<void> lookup(const void* key, void* value_out) const override {
        std::lock_guard guard(m_mutex);
        if (!m_id_of)
            return to_result(*this, "lookup", {EOPNOTSUPP, "no program id source is set"});
        const void* handle = get(array_index(key));
        if (!handle) return to_result(*this, "lookup", {ENOENT, "slot is empty"});
        uint32_t id = m_id_of(handle);
        std::memcpy(value_out, &id, sizeof id);
        return {};
    }

    Result<void> update(const void* key, const void* value, uint64_t flags) override {
        if (flags != kAny)
            return to_result(*this, "update", {EINVAL, "prog_array updates take BPF_ANY only"});
        uint32_t index = array_index(key);
        CRIB_TRY(to_result(*this, "update", check_update_index(spec(), index)));
        uint32_t fd;
        std::memcpy(&fd, value, sizeof fd);
        std::lock_guard guard(m_mutex);
        if (!m_resolver) return to_result(*this, "update", {EINVAL, "no program resolver is set"});
        std::shared_ptr<const void> handle = m_resolver(fd);
        if (!handle)
            return make_error(EBADF, "map '{}' ({}): update: fd {} is not a program", spec().name,
                              map_type_name(type()), fd);
        m_slots[index].store(handle.get(), std::memory_order_release);
        retire(std::exchange(m_owners[index], std::move(handle)));
        return {};
    }

    Result<void> remove(const void* key) override {
        uint32_t index = array_index(key);
        CRIB_TRY(to_result(*this, "delete", check_update_index(spec(), index)));
        std::lock_guard guard(m_mutex);
        if (!m_owners[index]) return to_result(*this, "delete", {ENOENT, "slot is empty"});
        m_slots[index].store(nullptr, std::memory_order_release);
        retire(std::move(m_owners[index]));
        return {};
    }

    Result<void> next_key(const void* key, void* next_key_out) const override {
        return to_result(*this, "get_next_key", array_next_key(spec(), key, next_key_out));
    }

    // The kernel's release of the last user reference: every slot empties and
    // the retired handles go too, which breaks the cycle of a program that
    // sits in a slot of a map it uses. The caller guarantees no program runs
    // through the map any more.
    void clear() {
        std::lock_guard guard(m_mutex);
        for (uint32_t index = 0; index < spec().max_entries; ++index)
            m_slots[index].store(nullptr, std::memory_order_release);
        m_owners.assign(spec().max_entries, nullptr);
        m_retired.clear();
    }

private:
    void retire(std::shared_ptr<const void> handle) {
        if (handle) m_retired.push_back(std::move(handle));
    }

    std::unique_ptr<std::atomic<const void*>[]> m_slots;  // what programs read
    mutable std::mutex m_mutex;                           // guards everything below
    std::vector<std::shared_ptr<const void>> m_owners;    // keeps m_slots' handles alive
    std::vector<std::shared_ptr<const void>> m_retired;
    ProgResolver m_resolver;
    ProgIdOf m_id_of;
};

namespace {

ProgArray* as_prog_array(Map& map) {
    return map.type() == MapType::ProgArray ? static_cast<ProgArray*>(&map) : nullptr;
}

Result<void> check(const MapSpec& spec) {
    if (spec.value_size != sizeof(uint32_t))
        return spec_error(spec, EINVAL, "value_size {} must be 4 (a program fd)", spec.value_size);
    if (spec.flags & kMmapable) return spec_error(spec, EINVAL, "prog_array cannot be mmapable");
    return check_array_spec(spec, kArrayCreateFlags & ~kMmapable, /*percpu=*/false);
}

Result<std::unique_ptr<Map>> create(const MapSpec& spec) {
    return std::unique_ptr<Map>(std::make_unique<ProgArray>(spec));
}

}  // namespace

void set_prog_resolver(Map& prog_array, ProgResolver resolver) {
    set_prog_resolver(prog_array, std::move(resolver), nullptr);
}

void set_prog_resolver(Map& prog_array, ProgResolver resolver, ProgIdOf id_of) {
    if (ProgArray* array = as_prog_array(prog_array))
        array->set_resolver(std::move(resolver), std::move(id_of));
}

void prog_array_clear(Map& prog_array) {
    if (ProgArray* array = as_prog_array(prog_array)) array->clear();
}

const void* prog_array_get(const Map& prog_array, uint64_t index) {
    ProgArray* array = as_prog_array(const_cast<Map&>(prog_array));
    return array ? array->get(index) : nullptr;
}

constinit const detail::MapTypeOps detail::kProgArrayType{MapType::ProgArray, "prog_array", check,
                                                          create};

}  // namespace crib::maps
