// ELF relocations in code sections become the kernel's own pseudo
// encodings (map index, map value, kfunc call, subprogram address), then
// each program is linked: its entry function first, every subprogram it
// reaches appended once, with call and address offsets rewritten.
#include <elf.h>

#include <deque>

#include "object/state.hpp"

namespace crib::object {
namespace {

constexpr uint32_t kRelBpfNone = 0;  // R_BPF_NONE
constexpr uint32_t kRelBpf64 = 1;    // R_BPF_64_64: lddw
constexpr uint32_t kRelBpf32 = 10;   // R_BPF_64_32: call
constexpr size_t kSlot = sizeof(isa::enc::RawInsn);

void set_lddw(std::vector<isa::Insn>& insns, size_t at, isa::Op op, uint8_t src, uint64_t value) {
    insns[at].op = op;
    insns[at].src = src;
    insns[at].imm = static_cast<int32_t>(static_cast<uint32_t>(value));
    insns[at].imm64 = value;
    insns[at + 1].imm = static_cast<int32_t>(static_cast<uint32_t>(value >> 32));
}

class Relocator {
public:
    Relocator(LoaderState& state, CodeSection& code, const Section& rel)
        : m_state(state), m_code(code), m_rel(rel) {}

    Result<void> run() {
        auto relocations = m_state.elf->relocations(m_rel);
        if (!relocations) return std::move(relocations).error();
        for (size_t i = 0; i < relocations->size(); ++i) {
            auto done = apply((*relocations)[i]);
            if (!done) {
                Error error = std::move(done).error();
                error.loc().relocation = static_cast<int64_t>(i);
                return section_error(m_rel, std::move(error));
            }
        }
        return {};
    }

private:
    Error fail(size_t insn, std::string message) const {
        return std::move(make_error(EINVAL, "{}", message).at_insn(static_cast<int64_t>(insn)));
    }

    std::optional<size_t> code_index(size_t section) const {
        for (size_t i = 0; i < m_state.code.size(); ++i)
            if (m_state.code[i].section->index == section) return i;
        return std::nullopt;
    }

    Result<void> apply(const Relocation& reloc) {
        if (reloc.type == kRelBpfNone) return {};
        if (reloc.offset % kSlot)
            return make_error(EINVAL, "offset {:#x} is not on an instruction", reloc.offset);
        size_t at = reloc.offset / kSlot;
        isa::Insn& insn = m_code.insns[at];
        const Symbol& sym = m_state.elf->symbols()[reloc.symbol];
        const isa::OpInfo& info = insn.info();
        if (info.kind == isa::Kind::Call) {
            if (reloc.type != kRelBpf32)
                return fail(at, fmt::format("call relocated with type {}, expected R_BPF_64_32",
                                            reloc.type));
            return call(at, insn, sym);
        }
        if (info.kind == isa::Kind::Lddw && insn.op == isa::Op::lddw) {
            if (reloc.type != kRelBpf64)
                return fail(at, fmt::format("lddw relocated with type {}, expected R_BPF_64_64",
                                            reloc.type));
            return lddw(at, insn, sym);
        }
        return fail(at, fmt::format("relocation against '{}' on {}, expected lddw or call",
                                    sym.name, info.name));
    }

    Result<void> call(size_t at, isa::Insn& insn, const Symbol& sym) {
        if (sym.shndx == SHN_UNDEF) {
            insn = isa::make(isa::Op::call_kfunc, 0, isa::enc::kPseudoKfuncCall, 0, 0);
            m_code.externs[at] = PendingExtern{sym.name, ExternKind::Kfunc, sym.bind == STB_WEAK,
                                               btf_of(sym.name, btf::Kind::Func).value_or(0)};
            return {};
        }
        auto section = code_index(sym.shndx);
        if (!section)
            return fail(at, fmt::format("call to '{}', which is not in a code section", sym.name));
        // clang leaves the callee's slot, minus one, relative to the symbol.
        int64_t target = static_cast<int64_t>(sym.value / kSlot) + insn.imm + 1;
        CRIB_TRY(check_target(at, *section, target, sym));
        insn.op = isa::Op::call_local;
        insn.src = isa::enc::kPseudoCall;
        m_code.targets[at] = CodeTarget{*section, static_cast<size_t>(target)};
        return {};
    }

    Result<void> lddw(size_t at, isa::Insn& insn, const Symbol& sym) {
        if (sym.shndx == SHN_UNDEF) {
            bool kconfig = in_datasec(".kconfig", sym.name);
            if (!kconfig)
                set_lddw(m_code.insns, at, isa::Op::lddw_btf_id, isa::enc::kPseudoBtfId, 0);
            m_code.externs[at] = PendingExtern{
                sym.name, kconfig ? ExternKind::Kconfig : ExternKind::Ksym, sym.bind == STB_WEAK,
                btf_of(sym.name, btf::Kind::Var)
                    .value_or(btf_of(sym.name, btf::Kind::Func).value_or(0))};
            return {};
        }
        if (auto section = code_index(sym.shndx)) {
            int64_t bytes = static_cast<int64_t>(sym.value) + insn.imm;
            if (bytes % static_cast<int64_t>(kSlot))
                return fail(at, fmt::format("address of '{}' + {} is not on an instruction",
                                            sym.name, insn.imm));
            int64_t target = bytes / static_cast<int64_t>(kSlot);
            CRIB_TRY(check_target(at, *section, target, sym));
            set_lddw(m_code.insns, at, isa::Op::lddw_func, isa::enc::kPseudoFunc, 0);
            m_code.targets[at] = CodeTarget{*section, static_cast<size_t>(target)};
            return {};
        }
        // SHN_ABS, SHN_COMMON and the like name no section to point into.
        if (sym.shndx >= m_state.elf->sections().size())
            return fail(at, fmt::format("'{}' is in special section #{:#x}, not in data or code",
                                        sym.name, sym.shndx));
        const Section& home = m_state.elf->sections()[sym.shndx];
        if (home.name == ".maps") {
            for (size_t i = 0; i < m_state.object.maps.size(); ++i) {
                const MapDef& map = m_state.object.maps[i];
                if (map.kind == MapKind::User && map.section_offset == sym.value) {
                    set_lddw(m_code.insns, at, isa::Op::lddw_map_idx, isa::enc::kPseudoMapIdx, i);
                    return {};
                }
            }
            return fail(at, fmt::format("symbol '{}' at {} in '.maps' is no map definition",
                                        sym.name, sym.value));
        }
        auto data = m_state.data_maps.find(sym.shndx);
        if (data == m_state.data_maps.end())
            return fail(
                at,
                fmt::format(
                    "symbol '{}' is in section '{}', which is neither code, maps nor global data",
                    sym.name, home.name));
        int64_t offset = static_cast<int64_t>(sym.value) + insn.imm;
        const MapDef& map = m_state.object.maps[data->second];
        if (offset < 0 || offset >= static_cast<int64_t>(map.value_size))
            return fail(at, fmt::format("'{}' + {} is outside '{}' ({} bytes)", sym.name, insn.imm,
                                        map.name, map.value_size));
        set_lddw(m_code.insns, at, isa::Op::lddw_map_idx_value, isa::enc::kPseudoMapIdxValue,
                 data->second | static_cast<uint64_t>(offset) << 32);
        m_code.insns[at].imm = static_cast<int32_t>(data->second);
        return {};
    }

    Result<void> check_target(size_t at, size_t section, int64_t target, const Symbol& sym) const {
        const CodeSection& code = m_state.code[section];
        if (target < 0 || static_cast<uint64_t>(target) >= code.insns.size())
            return fail(at, fmt::format("target insn {} of '{}' is outside section '{}' ({} insns)",
                                        target, sym.name, code.section->name, code.insns.size()));
        if (!code.function_at(static_cast<size_t>(target)))
            return fail(at,
                        fmt::format("target insn {} of '{}' is in no function", target, sym.name));
        return {};
    }

    bool in_datasec(std::string_view section, std::string_view name) const {
        if (!m_state.btf) return false;
        auto sec = m_state.btf->find(section, btf::Kind::Datasec);
        if (!sec) return false;
        for (const auto& var : m_state.btf->datasec_vars(*sec))
            if (m_state.btf->name(var.type) == name) return true;
        return false;
    }

    std::optional<btf::TypeId> btf_of(std::string_view name, btf::Kind kind) const {
        return m_state.btf ? m_state.btf->find(name, kind) : std::nullopt;
    }

    LoaderState& m_state;
    CodeSection& m_code;
    const Section& m_rel;
};

// Lays out one program: entry function first, callees as first reached.
class Linker {
public:
    Linker(const LoaderState& state, Program& program) : m_state(state), m_program(program) {}

    Result<void> link(size_t section, const Function& entry) {
        place(section, entry);
        m_program.main_size = entry.count;
        while (!m_queue.empty()) {
            Placed placed = m_queue.front();
            m_queue.pop_front();
            CRIB_TRY(fix(placed));
        }
        return {};
    }

private:
    struct Placed {
        size_t section;
        const Function* function;
        size_t base;
    };

    size_t place(size_t section, const Function& fn) {
        for (const Placed& p : m_placed)
            if (p.function == &fn) return p.base;
        const CodeSection& code = m_state.code[section];
        Placed placed{section, &fn, m_program.insns.size()};
        m_program.insns.insert(m_program.insns.end(), code.insns.begin() + fn.start,
                               code.insns.begin() + fn.start + fn.count);
        m_placed.push_back(placed);
        m_queue.push_back(placed);
        copy_debug_info(code, placed);
        return placed.base;
    }

    void copy_debug_info(const CodeSection& code, const Placed& p) {
        const btf::Btf* btf = m_state.btf.get();
        auto local = [&](uint32_t insn_off) -> std::optional<size_t> {
            size_t at = insn_off / kSlot;
            if (insn_off % kSlot || at < p.function->start ||
                at >= p.function->start + p.function->count)
                return std::nullopt;
            return p.base + at - p.function->start;
        };
        if (code.func_info && btf)
            for (const ExtFuncInfo& info : *code.func_info)
                if (auto at = local(info.insn_off))
                    m_program.func_info.push_back(
                        {*at, info.type_id, std::string(btf->name(info.type_id))});
        if (code.line_info && btf)
            for (const ExtLineInfo& info : *code.line_info)
                if (auto at = local(info.insn_off))
                    m_program.line_info.push_back({*at,
                                                   std::string(btf->string_at(info.file_name_off)),
                                                   std::string(btf->string_at(info.line_off)),
                                                   info.line_col >> 10, info.line_col & 0x3ff});
        for (const auto& [insn, relo] : code.core)
            if (auto at = local(static_cast<uint32_t>(insn * kSlot))) {
                m_program.core_relos.push_back(relo);
                m_program.core_relos.back().insn = *at;
            }
    }

    Result<void> fix(const Placed& p) {
        const CodeSection& code = m_state.code[p.section];
        for (size_t i = 0; i < p.function->count; ++i) {
            size_t from = p.function->start + i;
            size_t at = p.base + i;
            isa::Insn& insn = m_program.insns[at];
            if (auto ext = code.externs.find(from); ext != code.externs.end())
                m_program.externs.push_back({at, ext->second.name, ext->second.kind,
                                             ext->second.weak, ext->second.btf_type});
            if (insn.op != isa::Op::call_local && insn.op != isa::Op::lddw_func) continue;
            CodeTarget target{p.section, 0};
            if (auto found = code.targets.find(from); found != code.targets.end()) {
                target = found->second;
            } else if (insn.op == isa::Op::call_local) {
                int64_t slot = static_cast<int64_t>(from) + insn.imm + 1;
                if (slot < 0 || static_cast<uint64_t>(slot) >= code.insns.size())
                    return std::move(
                        section_error(
                            *code.section,
                            make_error(EINVAL, "call target {} is outside the section", slot))
                            .at_insn(static_cast<int64_t>(from)));
                target.insn = static_cast<size_t>(slot);
            } else {
                return std::move(
                    section_error(*code.section,
                                  make_error(EINVAL, "function address without a relocation"))
                        .at_insn(static_cast<int64_t>(from)));
            }
            const CodeSection& callee_code = m_state.code[target.section];
            const Function* callee = callee_code.function_at(target.insn);
            if (!callee)
                return std::move(
                    section_error(
                        *code.section,
                        make_error(EINVAL, "call target {} is in no function", target.insn))
                        .at_insn(static_cast<int64_t>(from)));
            size_t base = place(target.section, *callee);
            int64_t delta = static_cast<int64_t>(base + (target.insn - callee->start)) -
                            static_cast<int64_t>(at + 1);
            // place() may have grown the vector; index again.
            isa::Insn& patched = m_program.insns[at];
            patched.imm = static_cast<int32_t>(delta);
            if (patched.op == isa::Op::lddw_func) {
                patched.imm64 = static_cast<uint32_t>(patched.imm);
                m_program.insns[at + 1].imm = 0;
            }
        }
        return {};
    }

    const LoaderState& m_state;
    Program& m_program;
    std::vector<Placed> m_placed;
    std::deque<Placed> m_queue;
};

}  // namespace

Result<void> apply_relocations(LoaderState& state) {
    for (const Section& rel : state.elf->sections()) {
        if (rel.type != SHT_REL || rel.info >= state.elf->sections().size()) continue;
        for (CodeSection& code : state.code)
            if (code.section->index == rel.info) CRIB_TRY(Relocator(state, code, rel).run());
    }
    return {};
}

Result<void> link_programs(LoaderState& state) {
    for (size_t s = 0; s < state.code.size(); ++s) {
        for (const Function& fn : state.code[s].functions) {
            if (!fn.is_program) continue;
            Program program;
            program.name = fn.name;
            program.section = state.code[s].section->name;
            auto linked = Linker(state, program).link(s, fn);
            if (!linked) return std::move(linked).error().in_program(fn.name);
            state.object.programs.push_back(std::move(program));
        }
    }
    return {};
}

}  // namespace crib::object
