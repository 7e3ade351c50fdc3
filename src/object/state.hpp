// What the loader phases share; private to src/object.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "btf/btf.hpp"
#include "object/btf_ext.hpp"
#include "object/elf.hpp"
#include "object/loader.hpp"
#include "object/object.hpp"

namespace crib::object {

struct Function {
    std::string name;
    size_t start = 0;  // insn index in the section
    size_t count = 0;
    bool is_program = false;
};

// A call_local or lddw_func resolved through a relocation to a slot in
// some executable section.
struct CodeTarget {
    size_t section;  // index into LoaderState::code
    size_t insn;
};

struct PendingExtern {
    std::string name;
    ExternKind kind;
    bool weak;
    btf::TypeId btf_type;
};

struct CodeSection {
    const Section* section = nullptr;
    std::vector<isa::Insn> insns;
    std::vector<Function> functions;  // sorted by start
    std::map<size_t, CodeTarget> targets;
    std::map<size_t, PendingExtern> externs;
    std::map<size_t, CoreRelo> core;
    const std::vector<ExtFuncInfo>* func_info = nullptr;
    const std::vector<ExtLineInfo>* line_info = nullptr;
    const std::vector<ExtCoreRelo>* core_relos = nullptr;

    const Function* function_at(size_t insn) const;
};

struct LoaderState {
    Phase phase = Phase::Created;
    LoadOptions options;
    Object object;
    std::optional<ElfFile> elf;
    std::shared_ptr<btf::Btf> btf;
    BtfExt ext;
    std::vector<CodeSection> code;
    std::map<size_t, size_t> data_maps;  // ELF section index -> map index
};

// Phase bodies, one file each.
Result<std::vector<MapDef>> parse_maps_section(const ElfFile& elf, const Section& maps,
                                               const btf::Btf* btf);
Result<void> apply_core_relocations(LoaderState& state);
Result<void> apply_relocations(LoaderState& state);
Result<void> link_programs(LoaderState& state);

}  // namespace crib::object
