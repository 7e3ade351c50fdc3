// The loaded form of a clang-built BPF object: programs with their
// subprograms linked in, map definitions, and what is left for the runtime
// to resolve (map addresses, kfuncs, ksyms). Nothing here touches the
// kernel or creates maps; the runtime does that from this model.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "btf/btf.hpp"
#include "isa/insn.hpp"

namespace crib::object {

enum class MapKind : uint8_t {
    User,    // BTF-defined in ".maps"
    Data,    // .data, .data.*
    Rodata,  // .rodata, .rodata.*
    Bss,     // .bss, .bss.*
};

// Kernel map flags the loader sets on global-data maps.
inline constexpr uint32_t kMapFlagRdonlyProg = 1u << 7;  // BPF_F_RDONLY_PROG
inline constexpr uint32_t kMapFlagMmapable = 1u << 10;   // BPF_F_MMAPABLE
inline constexpr uint32_t kMapTypeArray = 2;             // BPF_MAP_TYPE_ARRAY

struct MapDef {
    std::string name;  // the variable for .maps entries, the section name for data
    MapKind kind = MapKind::User;
    uint32_t type = 0;  // kernel BPF_MAP_TYPE_* numbering
    uint32_t key_size = 0;
    uint32_t value_size = 0;
    uint32_t max_entries = 0;
    uint32_t map_flags = 0;
    uint32_t pinning = 0;  // LIBBPF_PIN_*
    uint32_t numa_node = 0;
    uint64_t map_extra = 0;
    btf::TypeId btf_key_type = 0;
    btf::TypeId btf_value_type = 0;  // the DATASEC for global data maps
    std::string section;             // ELF section the definition came from
    uint64_t section_offset = 0;     // of the definition inside that section
    std::vector<uint8_t> initial;    // global data: the section contents (zeros for .bss)
};

enum class ExternKind : uint8_t {
    Kfunc,    // call_kfunc, imm left 0
    Ksym,     // lddw_btf_id, imm left 0
    Kconfig,  // plain lddw of an `extern ... __kconfig` variable, value left 0
};

struct ExternRef {
    size_t insn;  // index in Program::insns
    std::string name;
    ExternKind kind;
    bool weak = false;
    btf::TypeId btf_type = 0;  // the extern's FUNC or VAR in the object's BTF, if any
};

struct LineInfo {
    size_t insn;
    std::string file;
    std::string source;  // the source line's text
    uint32_t line;
    uint32_t column;
};

struct FuncInfo {
    size_t insn;           // where the function starts in Program::insns
    btf::TypeId btf_type;  // its BTF FUNC
    std::string name;
};

// One applied CO-RE relocation, kept for messages and tests.
struct CoreRelo {
    size_t insn;
    uint32_t kind;          // BPF_CORE_* numbering
    std::string type_name;  // the local root type, e.g. "struct task_struct"
    std::string access;     // "0:1:2"
    uint64_t local_value;
    uint64_t target_value;
    bool poisoned;  // no target matched; the insn now fails if reached
};

// The helper id libbpf writes into an instruction whose CO-RE relocation
// found no target, so the verifier reports it only if it is reachable.
inline constexpr int32_t kPoisonHelper = 0xbad2310;

struct Program {
    std::string name;     // the function symbol
    std::string section;  // ELF section name: "crib", "xdp", "iter/task", ...
    std::vector<isa::Insn> insns;
    std::vector<FuncInfo> func_info;
    std::vector<LineInfo> line_info;
    std::vector<ExternRef> externs;
    std::vector<CoreRelo> core_relos;
    size_t main_size = 0;  // insns of the entry function; subprograms follow

    // The line info entry that covers `insn`, if any.
    const LineInfo* line_for(size_t insn) const;
};

struct Object {
    std::string name;
    std::vector<Program> programs;
    std::vector<MapDef> maps;
    std::string license;
    uint32_t kern_version = 0;
    std::shared_ptr<const btf::Btf> btf;  // null if the object carries no .BTF

    const Program* find_program(std::string_view name) const;
    const MapDef* find_map(std::string_view name) const;
    std::optional<size_t> map_index(std::string_view name) const;
};

struct LoadOptions {
    // Target BTF for CO-RE. If unset and the object has CO-RE relocations,
    // the host's vmlinux BTF is used unless core_against_self is set.
    std::shared_ptr<const btf::Btf> core_target;
    // Relocate against the object's own BTF (offsets stay as compiled);
    // useful for types crib defines itself.
    bool core_against_self = false;
};

Result<Object> load_object(std::span<const uint8_t> bytes, std::string name,
                           const LoadOptions& options = {});
Result<Object> load_object_file(const std::string& path, const LoadOptions& options = {});

}  // namespace crib::object
