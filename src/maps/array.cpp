// BPF_MAP_TYPE_ARRAY: max_entries values, each value_size rounded up to 8,
// back to back in one zeroed mapping. The same layout serves global data
// (.data/.rodata/.bss): direct_value() is the base an ld_imm64 points into.
// Values never move and are never freed while the map lives, so readers
// need no lock; a concurrent update can tear a value, as in the kernel.
#include <cstring>

#include "maps/array_common.hpp"
#include "maps/registry.hpp"

namespace crib::maps {
namespace {

using namespace detail;

class ArrayMap final : public Map {
public:
    ArrayMap(MapSpec spec, Mapping memory)
        : Map(std::move(spec)),
          m_elem_size(round_up8(this->spec().value_size)),
          m_memory(std::move(memory)) {}

    Result<void> lookup(const void* key, void* value_out) const override {
        const std::byte* value = slot(array_index(key));
        if (!value) return to_result(*this, "lookup", {ENOENT, "index out of range"});
        std::memcpy(value_out, value, spec().value_size);
        return {};
    }
    Result<void> update(const void* key, const void* value, uint64_t flags) override {
        return to_result(*this, "update", store(key, value, flags));
    }
    Result<void> remove(const void*) override {
        return to_result(*this, "delete", {EINVAL, "array elements cannot be deleted"});
    }
    Result<void> next_key(const void* key, void* next_key_out) const override {
        return to_result(*this, "get_next_key", array_next_key(spec(), key, next_key_out));
    }

    void* lookup_elem(const void* key) override { return slot(array_index(key)); }
    long update_elem(const void* key, const void* value, uint64_t flags) override {
        return to_errno(store(key, value, flags));
    }
    long delete_elem(const void*) override { return -EINVAL; }

    void* direct_value() override { return m_memory.data(); }
    int mmap_fd() const override { return m_memory.fd(); }

private:
    std::byte* slot(uint32_t index) const {
        if (index >= spec().max_entries) return nullptr;
        return m_memory.data() + static_cast<size_t>(index) * m_elem_size;
    }

    Status store(const void* key, const void* value, uint64_t flags) {
        Status status = check_update_flags(flags);
        if (!status.ok()) return status;
        uint32_t index = array_index(key);
        status = check_update_index(spec(), index);
        if (!status.ok()) return status;
        if (flags & kNoExist) return {EEXIST, "array elements always exist (BPF_NOEXIST)"};
        std::memcpy(slot(index), value, spec().value_size);
        return kOk;
    }

    uint64_t m_elem_size;
    Mapping m_memory;
};

Result<void> check(const MapSpec& spec) {
    return check_array_spec(spec, kArrayCreateFlags, /*percpu=*/false);
}

Result<std::unique_ptr<Map>> create(const MapSpec& spec) {
    size_t bytes = round_up8(spec.value_size) * spec.max_entries;
    Mapping memory = CRIB_TRY(Mapping::create(spec, bytes, (spec.flags & kMmapable) != 0));
    return std::unique_ptr<Map>(std::make_unique<ArrayMap>(spec, std::move(memory)));
}

}  // namespace

constinit const detail::MapTypeOps detail::kArrayType{MapType::Array, "array", check, create};

}  // namespace crib::maps
