#include "exec/interp/code.hpp"
#include "exec/resolve.hpp"
#include "exec/structure.hpp"

namespace crib::exec::interp {
namespace {

using isa::Insn;
using isa::Op;

Error at(size_t pc, Error error) {
    return std::move(error.at_insn(static_cast<int64_t>(pc)));
}

Result<Slot> translate_one(const Insn& insn, const Imports& imports, const Options& options) {
    Slot slot{handler_of(insn.op), insn.dst, insn.src, 0, insn.off, {insn.imm}};
    switch (insn.op) {
        case Op::ja32:
        case Op::call_local:
            slot.off = insn.imm;
            break;
        case Op::lddw:
        case Op::lddw_func:
            slot.handler = Handler::lddw;
            slot.imm = static_cast<int64_t>(insn.imm64);
            break;
        case Op::lddw_map_fd:
        case Op::lddw_map_value:
        case Op::lddw_btf_id:
        case Op::lddw_map_idx:
        case Op::lddw_map_idx_value:
            return unresolved_lddw(insn);
        case Op::call:
            if (insn.imm == kHelperTailCall) {
                slot.handler = Handler::tail_call;
                break;
            }
            slot.fn = CRIB_TRY(resolve_call(insn, imports));
            if (options.unwind_helper == insn.imm) slot.handler = Handler::call_unwind;
            break;
        case Op::call_kfunc:
            slot.fn = CRIB_TRY(resolve_call(insn, imports));
            break;
        default:
            break;
    }
    return slot;
}

}  // namespace

Result<Translation> translate(std::span<const isa::Insn> code, const Imports& imports,
                              const Options& options) {
    CRIB_TRY(check_structure(code));

    Translation out;
    out.slots.reserve(code.size());
    for (size_t pc = 0; pc < code.size(); ++pc) {
        auto slot = translate_one(code[pc], imports, options);
        if (!slot) return at(pc, std::move(slot).error());
        out.slots.push_back(*slot);
        if (code[pc].op == Op::lddw_func)
            out.func_loads.push_back(
                {static_cast<uint32_t>(pc), static_cast<uint32_t>(*target_of(code[pc], pc))});
    }
    return out;
}

}  // namespace crib::exec::interp
