#include "object/loader.hpp"

#include <elf.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>

#include "object/state.hpp"

namespace crib::object {

// Globals live in one array value that crib allocates up front (.bss too), so
// a forged section size must not become a multi-gigabyte allocation. Real
// programs keep kilobytes to a few megabytes of globals.
constexpr uint64_t kMaxGlobalData = 64ull << 20;
namespace {

// Bigger than any object clang produces for BPF by a wide margin; the
// limit keeps a runaway file from being read whole into memory.
constexpr size_t kMaxObjectSize = 256u << 20;

bool starts_with_section(std::string_view name, std::string_view base) {
    return name == base || (name.size() > base.size() && name.substr(0, base.size()) == base &&
                            name[base.size()] == '.');
}

std::optional<MapKind> data_kind(const Section& section) {
    if (section.executable()) return std::nullopt;
    if (section.type != SHT_PROGBITS && section.type != SHT_NOBITS) return std::nullopt;
    if (starts_with_section(section.name, ".data")) return MapKind::Data;
    if (starts_with_section(section.name, ".rodata")) return MapKind::Rodata;
    if (starts_with_section(section.name, ".bss")) return MapKind::Bss;
    return std::nullopt;
}

Result<void> collect_license(LoaderState& state) {
    if (const Section* license = state.elf->find_section("license")) {
        auto bytes = license->data;
        auto end = std::find(bytes.begin(), bytes.end(), uint8_t{0});
        state.object.license.assign(bytes.begin(), end);
    }
    if (const Section* version = state.elf->find_section("version")) {
        if (version->data.size() != sizeof(uint32_t))
            return section_error(*version, make_error(EINVAL, "version section is {} bytes, not 4",
                                                      version->data.size()));
        std::memcpy(&state.object.kern_version, version->data.data(), sizeof(uint32_t));
    }
    return {};
}

Result<void> collect_data_maps(LoaderState& state) {
    for (const Section& section : state.elf->sections()) {
        auto kind = data_kind(section);
        if (!kind || section.size == 0) continue;
        if (section.size > kMaxGlobalData)
            return section_error(
                section,
                make_error(E2BIG, "global data section of {} bytes is over crib's limit of {}",
                           section.size, kMaxGlobalData));
        MapDef map;
        map.name = section.name;
        map.kind = *kind;
        map.type = kMapTypeArray;
        map.key_size = sizeof(uint32_t);
        map.value_size = static_cast<uint32_t>(section.size);
        map.max_entries = 1;
        map.map_flags = kMapFlagMmapable | (*kind == MapKind::Rodata ? kMapFlagRdonlyProg : 0);
        map.section = section.name;
        if (section.type == SHT_NOBITS)
            map.initial.assign(section.size, 0);
        else
            map.initial.assign(section.data.begin(), section.data.end());
        if (state.btf)
            if (auto id = state.btf->find(section.name, btf::Kind::Datasec))
                map.btf_value_type = *id;
        state.data_maps[section.index] = state.object.maps.size();
        state.object.maps.push_back(std::move(map));
    }
    return {};
}

Result<void> collect_code(LoaderState& state) {
    const auto& symbols = state.elf->symbols();
    for (const Section& section : state.elf->sections()) {
        if (!section.executable() || section.size == 0) continue;
        CodeSection code;
        code.section = &section;
        auto decoded = isa::decode_bytes(section.data);
        if (!decoded) return section_error(section, std::move(decoded).error());
        code.insns = std::move(*decoded);
        for (const Symbol& sym : symbols) {
            if (sym.shndx != section.index || sym.type != STT_FUNC) continue;
            auto fail = [&](std::string message) {
                return std::move(section_error(section, make_error(EINVAL, "function '{}': {}",
                                                                   sym.name, message))
                                     .at_offset(sym.value));
            };
            if (sym.value % sizeof(isa::enc::RawInsn) || sym.size % sizeof(isa::enc::RawInsn))
                return fail(fmt::format("offset {} or size {} is not a multiple of 8", sym.value,
                                        sym.size));
            if (sym.size == 0 || sym.value > section.size || sym.size > section.size - sym.value)
                return fail(fmt::format("{} bytes at {} do not fit the section ({} bytes)",
                                        sym.size, sym.value, section.size));
            Function fn;
            fn.name = sym.name;
            fn.start = sym.value / sizeof(isa::enc::RawInsn);
            fn.count = sym.size / sizeof(isa::enc::RawInsn);
            // Static functions are subprograms; every function in .text is
            // one too, as in libbpf.
            fn.is_program = section.name != ".text" && sym.bind != STB_LOCAL;
            if (code.insns[fn.start].op == isa::Op::lddw_tail)
                return fail("starts in the middle of an lddw");
            code.functions.push_back(std::move(fn));
        }
        std::sort(code.functions.begin(), code.functions.end(),
                  [](const Function& a, const Function& b) { return a.start < b.start; });
        for (size_t i = 1; i < code.functions.size(); ++i)
            if (code.functions[i - 1].start + code.functions[i - 1].count > code.functions[i].start)
                return std::move(
                    section_error(section,
                                  make_error(EINVAL, "functions '{}' and '{}' overlap",
                                             code.functions[i - 1].name, code.functions[i].name))
                        .at_offset(code.functions[i].start * sizeof(isa::enc::RawInsn)));
        for (const auto& info : state.ext.func_info)
            if (info.section == section.name) code.func_info = &info.records;
        for (const auto& info : state.ext.line_info)
            if (info.section == section.name) code.line_info = &info.records;
        for (const auto& info : state.ext.core_relos)
            if (info.section == section.name) code.core_relos = &info.records;
        state.code.push_back(std::move(code));
    }
    return {};
}

}  // namespace

std::string_view phase_name(Phase phase) {
    switch (phase) {
        case Phase::Created:
            return "created";
        case Phase::Opened:
            return "opened";
        case Phase::BtfLoaded:
            return "btf-loaded";
        case Phase::Collected:
            return "collected";
        case Phase::Relocated:
            return "relocated";
        case Phase::Finished:
            return "finished";
        case Phase::Failed:
            return "failed";
    }
    return "?";
}

const Function* CodeSection::function_at(size_t insn) const {
    auto it = std::upper_bound(functions.begin(), functions.end(), insn,
                               [](size_t at, const Function& fn) { return at < fn.start; });
    if (it == functions.begin()) return nullptr;
    --it;
    return insn < it->start + it->count ? &*it : nullptr;
}

Loader::Loader(std::string name, LoadOptions options) : m_state(std::make_unique<LoaderState>()) {
    m_state->object.name = std::move(name);
    m_state->options = std::move(options);
}
Loader::Loader(Loader&&) noexcept = default;
Loader& Loader::operator=(Loader&&) noexcept = default;
Loader::~Loader() = default;

Phase Loader::phase() const {
    return m_state ? m_state->phase : Phase::Failed;
}

template <typename Fn>
Result<void> Loader::step(Phase expected, Phase next, std::string_view what, Fn&& fn) {
    if (!m_state || m_state->phase != expected)
        return make_error(EINVAL, "{}: loader is {}, expected {}", what, phase_name(phase()),
                          phase_name(expected));
    Result<void> result = fn(*m_state);
    if (!result) {
        m_state->phase = Phase::Failed;
        result.error().in_object(m_state->object.name);
        return result;
    }
    m_state->phase = next;
    return {};
}

Result<void> Loader::open(std::span<const uint8_t> bytes) {
    return step(Phase::Created, Phase::Opened, "open", [&](LoaderState& state) -> Result<void> {
        if (bytes.size() > kMaxObjectSize)
            return make_error(E2BIG, "object of {} bytes is larger than {}", bytes.size(),
                              kMaxObjectSize);
        state.elf = CRIB_TRY(ElfFile::open(bytes));
        return {};
    });
}

Result<void> Loader::load_btf() {
    return step(Phase::Opened, Phase::BtfLoaded, "load_btf",
                [](LoaderState& state) -> Result<void> {
                    const Section* btf = state.elf->find_section(".BTF");
                    const Section* ext = state.elf->find_section(".BTF.ext");
                    if (!btf) {
                        if (ext)
                            return section_error(*ext, make_error(EINVAL, ".BTF.ext without .BTF"));
                        return {};
                    }
                    auto parsed = btf::Btf::parse(btf->data);
                    if (!parsed) return section_error(*btf, std::move(parsed).error());
                    state.btf = std::move(*parsed);
                    state.object.btf = state.btf;
                    if (ext) {
                        auto records = parse_btf_ext(ext->data, *state.btf);
                        if (!records) return section_error(*ext, std::move(records).error());
                        state.ext = std::move(*records);
                    }
                    return {};
                });
}

Result<void> Loader::collect() {
    return step(Phase::BtfLoaded, Phase::Collected, "collect",
                [](LoaderState& state) -> Result<void> {
                    CRIB_TRY(collect_license(state));
                    // User maps come first so their indexes do not depend on which
                    // global data sections the compiler chose to emit.
                    if (const Section* maps = state.elf->find_section(".maps"))
                        state.object.maps =
                            CRIB_TRY(parse_maps_section(*state.elf, *maps, state.btf.get()));
                    CRIB_TRY(collect_data_maps(state));
                    CRIB_TRY(collect_code(state));
                    return {};
                });
}

Result<void> Loader::relocate() {
    return step(Phase::Collected, Phase::Relocated, "relocate",
                [](LoaderState& state) -> Result<void> {
                    CRIB_TRY(apply_core_relocations(state));
                    CRIB_TRY(apply_relocations(state));
                    CRIB_TRY(link_programs(state));
                    return {};
                });
}

Result<Object> Loader::finish() {
    CRIB_TRY(step(Phase::Relocated, Phase::Finished, "finish",
                  [](LoaderState&) -> Result<void> { return {}; }));
    Object object = std::move(m_state->object);
    m_state.reset();
    return object;
}

const LineInfo* Program::line_for(size_t insn) const {
    const LineInfo* best = nullptr;
    for (const LineInfo& info : line_info)
        if (info.insn <= insn && (!best || info.insn >= best->insn)) best = &info;
    return best;
}

const Program* Object::find_program(std::string_view name) const {
    for (const auto& program : programs)
        if (program.name == name) return &program;
    return nullptr;
}

const MapDef* Object::find_map(std::string_view name) const {
    auto index = map_index(name);
    return index ? &maps[*index] : nullptr;
}

std::optional<size_t> Object::map_index(std::string_view name) const {
    for (size_t i = 0; i < maps.size(); ++i)
        if (maps[i].name == name) return i;
    return std::nullopt;
}

Result<Object> load_object(std::span<const uint8_t> bytes, std::string name,
                           const LoadOptions& options) {
    Loader loader(std::move(name), options);
    CRIB_TRY(loader.open(bytes));
    CRIB_TRY(loader.load_btf());
    CRIB_TRY(loader.collect());
    CRIB_TRY(loader.relocate());
    return loader.finish();
}

Result<Object> load_object_file(const std::string& path, const LoadOptions& options) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error(ENOENT, "cannot open object '{}'", path);
    in.seekg(0, std::ios::end);
    auto size = static_cast<std::streamoff>(in.tellg());
    if (size < 0 || static_cast<uint64_t>(size) > kMaxObjectSize)
        return make_error(E2BIG, "object '{}' is too large or unreadable", path);
    in.seekg(0);
    std::vector<uint8_t> bytes(static_cast<size_t>(size));
    if (!bytes.empty() && !in.read(reinterpret_cast<char*>(bytes.data()), size))
        return make_error(EIO, "cannot read object '{}'", path);
    auto slash = path.find_last_of('/');
    return load_object(bytes, slash == std::string::npos ? path : path.substr(slash + 1), options);
}

}  // namespace crib::object
