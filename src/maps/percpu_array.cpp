// BPF_MAP_TYPE_PERCPU_ARRAY: one array of values per possible CPU. Each CPU's
// values are contiguous (slot c holds all of CPU c's elements) so CPUs do not
// share cache lines except at block edges. The user side sees, per element,
// round_up(value_size, 8) bytes for each CPU in turn, as the kernel copies.
#include <cstring>

#include "maps/array_common.hpp"
#include "maps/registry.hpp"

namespace crib::maps {
namespace {

using namespace detail;

class PercpuArrayMap final : public Map {
public:
    PercpuArrayMap(MapSpec spec, Mapping memory, unsigned ncpus)
        : Map(std::move(spec)),
          m_elem_size(round_up8(this->spec().value_size)),
          m_ncpus(ncpus),
          m_memory(std::move(memory)) {}

    size_t user_value_size() const override { return m_elem_size * m_ncpus; }

    Result<void> lookup(const void* key, void* value_out) const override {
        uint32_t index = array_index(key);
        if (index >= spec().max_entries)
            return to_result(*this, "lookup", {ENOENT, "index out of range"});
        auto* out = static_cast<std::byte*>(value_out);
        for (unsigned cpu = 0; cpu < m_ncpus; ++cpu)
            std::memcpy(out + cpu * m_elem_size, slot(index, cpu), m_elem_size);
        return {};
    }
    Result<void> update(const void* key, const void* value, uint64_t flags) override {
        Status status = check_store(key, flags);
        if (status.ok()) {
            const auto* in = static_cast<const std::byte*>(value);
            for (unsigned cpu = 0; cpu < m_ncpus; ++cpu)
                std::memcpy(slot(array_index(key), cpu), in + cpu * m_elem_size, m_elem_size);
        }
        return to_result(*this, "update", status);
    }
    Result<void> remove(const void*) override {
        return to_result(*this, "delete", {EINVAL, "array elements cannot be deleted"});
    }
    Result<void> next_key(const void* key, void* next_key_out) const override {
        return to_result(*this, "get_next_key", array_next_key(spec(), key, next_key_out));
    }

    void* lookup_elem(const void* key) override {
        uint32_t index = array_index(key);
        return index < spec().max_entries ? slot(index, current_cpu()) : nullptr;
    }
    // A program writes only its own CPU's copy.
    long update_elem(const void* key, const void* value, uint64_t flags) override {
        Status status = check_store(key, flags);
        if (status.ok())
            std::memcpy(slot(array_index(key), current_cpu()), value, spec().value_size);
        return to_errno(status);
    }
    long delete_elem(const void*) override { return -EINVAL; }

private:
    std::byte* slot(uint32_t index, unsigned cpu) const {
        size_t block = m_elem_size * spec().max_entries;
        return m_memory.data() + cpu * block + static_cast<size_t>(index) * m_elem_size;
    }

    Status check_store(const void* key, uint64_t flags) const {
        Status status = check_update_flags(flags);
        if (!status.ok()) return status;
        status = check_update_index(spec(), array_index(key));
        if (!status.ok()) return status;
        if (flags & kNoExist) return {EEXIST, "array elements always exist (BPF_NOEXIST)"};
        return kOk;
    }

    uint64_t m_elem_size;
    unsigned m_ncpus;
    Mapping m_memory;
};

Result<void> check(const MapSpec& spec) {
    if (spec.flags & kMmapable)
        return spec_error(spec, EINVAL, "per-CPU arrays cannot be mmapable");
    return check_array_spec(spec, kArrayCreateFlags & ~kMmapable, /*percpu=*/true);
}

Result<std::unique_ptr<Map>> create(const MapSpec& spec) {
    unsigned ncpus = possible_cpus();
    size_t bytes = round_up8(spec.value_size) * spec.max_entries * ncpus;
    Mapping memory = CRIB_TRY(Mapping::create(spec, bytes, /*shareable=*/false));
    return std::unique_ptr<Map>(std::make_unique<PercpuArrayMap>(spec, std::move(memory), ncpus));
}

}  // namespace

constinit const detail::MapTypeOps detail::kPercpuArrayType{MapType::PercpuArray, "percpu_array",
                                                            check, create};

}  // namespace crib::maps
