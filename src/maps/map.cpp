// The Map base class (every operation EOPNOTSUPP until a type overrides it)
// and the helpers in common.hpp.
#include <sys/mman.h>
#include <unistd.h>

#include <utility>

#include "maps/common.hpp"

namespace crib::maps {

namespace {

Error not_supported(const Map& map, std::string_view op) {
    return make_error(EOPNOTSUPP, "map '{}' ({}): {} is not supported", map.spec().name,
                      map_type_name(map.type()), op);
}

}  // namespace

Result<void> Map::lookup(const void*, void*) const {
    return not_supported(*this, "lookup");
}
Result<void> Map::update(const void*, const void*, uint64_t) {
    return not_supported(*this, "update");
}
Result<void> Map::remove(const void*) {
    return not_supported(*this, "delete");
}
Result<void> Map::next_key(const void*, void*) const {
    return not_supported(*this, "get_next_key");
}
void* Map::lookup_elem(const void*) {
    return nullptr;
}
long Map::update_elem(const void*, const void*, uint64_t) {
    return -EOPNOTSUPP;
}
long Map::delete_elem(const void*) {
    return -EOPNOTSUPP;
}

namespace detail {

size_t page_size() {
    static const size_t kSize = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    return kSize;
}

Result<void> check_flags(const MapSpec& spec, uint32_t allowed) {
    if (spec.flags & ~allowed)
        return spec_error(spec, EINVAL,
                          "map_flags {:#x} has bits this type does not accept ({:#x})", spec.flags,
                          spec.flags & ~allowed);
    // bpf_map_flags_access_ok: read-only and write-only together make no sense.
    if ((spec.flags & kRdonly) && (spec.flags & kWronly))
        return spec_error(spec, EINVAL, "BPF_F_RDONLY and BPF_F_WRONLY are exclusive");
    if ((spec.flags & kRdonlyProg) && (spec.flags & kWronlyProg))
        return spec_error(spec, EINVAL, "BPF_F_RDONLY_PROG and BPF_F_WRONLY_PROG are exclusive");
    return {};
}

Result<void> check_sizes_nonzero(const MapSpec& spec) {
    if (spec.key_size == 0 || spec.value_size == 0 || spec.max_entries == 0)
        return spec_error(spec, EINVAL,
                          "key_size ({}), value_size ({}) and max_entries ({}) must be non-zero",
                          spec.key_size, spec.value_size, spec.max_entries);
    return {};
}

Result<void> to_result(const Map& map, std::string_view op, Status status) {
    if (status.ok()) return {};
    return make_error(status.err, "map '{}' ({}): {}: {}", map.spec().name,
                      map_type_name(map.type()), op, status.why ? status.why : "failed");
}

Status check_update_flags(uint64_t flags) {
    if ((flags & ~kLock) > kExist) return {EINVAL, "unknown update flags"};
    if (flags & kLock) return {EINVAL, "BPF_F_LOCK needs a bpf_spin_lock in the value"};
    return kOk;
}

Mapping::~Mapping() {
    if (m_data) munmap(m_data, m_size);
    if (m_fd >= 0) close(m_fd);
}

void Mapping::swap(Mapping& other) noexcept {
    std::swap(m_data, other.m_data);
    std::swap(m_size, other.m_size);
    std::swap(m_fd, other.m_fd);
}

Result<Mapping> Mapping::create(const MapSpec& spec, size_t bytes, bool shareable) {
    Mapping out;
    out.m_size = round_up(bytes == 0 ? 1 : bytes, page_size());
    void* addr = MAP_FAILED;
    if (shareable) {
        out.m_fd = memfd_create(spec.name.empty() ? "crib-map" : spec.name.c_str(), MFD_CLOEXEC);
        if (out.m_fd < 0 || ftruncate(out.m_fd, static_cast<off_t>(out.m_size)) != 0)
            return spec_error(spec, ENOMEM, "cannot create {} bytes of shared map memory",
                              out.m_size);
        addr = mmap(nullptr, out.m_size, PROT_READ | PROT_WRITE, MAP_SHARED, out.m_fd, 0);
    } else {
        // NORESERVE: sparse maps (a large hash, mostly empty) commit only
        // the pages they touch.
        addr = mmap(nullptr, out.m_size, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    }
    if (addr == MAP_FAILED)
        return spec_error(spec, ENOMEM, "cannot map {} bytes of map memory", out.m_size);
    out.m_data = static_cast<std::byte*>(addr);
    return out;
}

}  // namespace detail
}  // namespace crib::maps
