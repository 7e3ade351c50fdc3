// BTF-defined maps: each variable in ".maps" is a struct whose members
// encode the definition in their types, as libbpf's bpf_helpers.h macros
// write them: __uint(name, N) is `int (*name)[N]`, __type(name, T) is
// `T *name`. The values live in the types; the section bytes are zeros.
#include <elf.h>

#include <algorithm>

#include "object/state.hpp"

namespace crib::object {
namespace {

class MapParser {
public:
    MapParser(const btf::Btf& btf, MapDef& map) : m_btf(btf), m_map(map) {}

    Result<void> parse(btf::TypeId def) {
        for (const btf::Member& member : m_btf.members(def)) CRIB_TRY(attribute(member));
        if (m_map.type == 0) return fail("map type is not set (__uint(type, ...))");
        return {};
    }

private:
    Error fail(std::string message) const {
        return make_error(EINVAL, "map '{}': {}", m_map.name, message);
    }

    // __uint(name, N): a pointer to an array of N elements.
    Result<uint32_t> number(const btf::Member& member) const {
        btf::TypeId ptr = m_btf.skip_modifiers(member.type);
        if (m_btf.kind(ptr) == btf::Kind::Ptr) {
            btf::TypeId array = m_btf.skip_modifiers(m_btf.target(ptr));
            if (auto info = m_btf.array_info(array)) return info->count;
        }
        return fail(fmt::format("attribute '{}' must be __uint() (a pointer to an array), is {}",
                                member.name, m_btf.describe(member.type)));
    }

    // __type(name, T): a pointer to T.
    Result<btf::TypeId> type_of(const btf::Member& member) const {
        btf::TypeId ptr = m_btf.skip_modifiers(member.type);
        if (m_btf.kind(ptr) != btf::Kind::Ptr)
            return fail(fmt::format("attribute '{}' must be __type() (a pointer), is {}",
                                    member.name, m_btf.describe(member.type)));
        return m_btf.target(ptr);
    }

    Result<void> sized_type(const btf::Member& member, btf::TypeId& id, uint32_t& size) {
        id = CRIB_TRY(type_of(member));
        auto resolved = m_btf.size_of(id);
        if (!resolved) return fail(fmt::format("{}: {}", member.name, resolved.error().message()));
        if (*resolved == 0 || *resolved > UINT32_MAX)
            return fail(
                fmt::format("{} type {} has size {}", member.name, m_btf.describe(id), *resolved));
        if (size != 0 && size != *resolved)
            return fail(fmt::format("{}_size {} does not match {} type {} of size {}", member.name,
                                    size, member.name, m_btf.describe(id), *resolved));
        size = static_cast<uint32_t>(*resolved);
        return {};
    }

    Result<void> set_size(uint32_t& size, btf::TypeId typed, std::string_view what,
                          uint32_t value) {
        if (typed != 0 && size != value)
            return fail(
                fmt::format("{}_size {} does not match {} type size {}", what, value, what, size));
        size = value;
        return {};
    }

    Result<void> attribute(const btf::Member& member) {
        std::string_view name = member.name;
        if (name == "type")
            m_map.type = CRIB_TRY(number(member));
        else if (name == "max_entries")
            m_map.max_entries = CRIB_TRY(number(member));
        else if (name == "map_flags")
            m_map.map_flags = CRIB_TRY(number(member));
        else if (name == "numa_node")
            m_map.numa_node = CRIB_TRY(number(member));
        else if (name == "map_extra")
            m_map.map_extra = CRIB_TRY(number(member));
        else if (name == "pinning")
            m_map.pinning = CRIB_TRY(number(member));
        else if (name == "key_size")
            CRIB_TRY(set_size(m_map.key_size, m_map.btf_key_type, "key", CRIB_TRY(number(member))));
        else if (name == "value_size")
            CRIB_TRY(set_size(m_map.value_size, m_map.btf_value_type, "value",
                              CRIB_TRY(number(member))));
        else if (name == "key")
            CRIB_TRY(sized_type(member, m_map.btf_key_type, m_map.key_size));
        else if (name == "value")
            CRIB_TRY(sized_type(member, m_map.btf_value_type, m_map.value_size));
        else if (name == "values")
            return fail("map-in-map and prog-array initial values are not supported");
        else
            return fail(fmt::format("unknown attribute '{}'", name));
        return {};
    }

    const btf::Btf& m_btf;
    MapDef& m_map;
};

}  // namespace

Result<std::vector<MapDef>> parse_maps_section(const ElfFile& elf, const Section& maps,
                                               const btf::Btf* btf) {
    if (!btf)
        return section_error(maps, make_error(EINVAL, "BTF-defined maps need a .BTF section"));
    auto datasec = btf->find(".maps", btf::Kind::Datasec);
    if (!datasec) return section_error(maps, make_error(EINVAL, "no BTF DATASEC for '.maps'"));
    auto vars = btf->datasec_vars(*datasec);

    std::vector<const Symbol*> symbols;
    for (const Symbol& sym : elf.symbols())
        if (sym.shndx == maps.index && sym.type != STT_SECTION && !sym.name.empty())
            symbols.push_back(&sym);
    std::sort(symbols.begin(), symbols.end(),
              [](const Symbol* a, const Symbol* b) { return a->value < b->value; });

    std::vector<MapDef> out;
    for (const Symbol* sym : symbols) {
        auto fail = [&](Error error) {
            return std::move(section_error(maps, std::move(error)).at_offset(sym->value));
        };
        btf::TypeId var = 0;
        for (const auto& info : vars)
            if (btf->kind(info.type) == btf::Kind::Var && btf->name(info.type) == sym->name)
                var = info.type;
        if (var == 0)
            return fail(make_error(EINVAL, "map '{}' has no BTF variable in '.maps'", sym->name));
        btf::TypeId def = btf->skip_modifiers(btf->target(var));
        if (btf->kind(def) != btf::Kind::Struct)
            return fail(make_error(EINVAL, "map '{}': definition must be a struct, is {}",
                                   sym->name, btf->describe(btf->target(var))));
        auto size = btf->size_of(def);
        if (!size) return fail(std::move(size).error());
        if (sym->value > maps.size || *size > maps.size - sym->value)
            return fail(make_error(EINVAL,
                                   "map '{}': definition of {} bytes at {} is outside the section",
                                   sym->name, *size, sym->value));
        MapDef map;
        map.name = sym->name;
        map.kind = MapKind::User;
        map.section = maps.name;
        map.section_offset = sym->value;
        if (auto ok = MapParser(*btf, map).parse(def); !ok) return fail(std::move(ok).error());
        out.push_back(std::move(map));
    }
    return out;
}

}  // namespace crib::object
