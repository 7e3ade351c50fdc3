// The transfer function: one visitor over isa::Kind (a kind added to the
// ISA without a case here fails to compile), register arithmetic on scalars
// and pointers, conditional jumps with bounds refinement and NULL checks,
// and ld_imm64 forms.
#pragma GCC diagnostic error "-Wswitch"

#include "verifier/checker.hpp"

namespace crib::verifier {
namespace {

std::string_view op_name(isa::Operation op) {
    using enum isa::Operation;
    switch (op) {
        case Add:
            return "+=";
        case Sub:
            return "-=";
        case Mul:
            return "*=";
        case Div:
        case Sdiv:
            return "/=";
        case Mod:
        case Smod:
            return "%=";
        case Or:
            return "|=";
        case And:
            return "&=";
        case Xor:
            return "^=";
        case Lsh:
            return "<<=";
        case Rsh:
            return ">>=";
        case Arsh:
            return "s>>=";
        case Neg:
            return "neg";
        default:
            return "?";
    }
}

bool arithmetic_allowed(const RegState& reg) {
    switch (reg.type) {
        case RegType::Ctx:
        case RegType::Stack:
        case RegType::MapValue:
        case RegType::MapKey:
        case RegType::Mem:
        case RegType::Packet:
        case RegType::BtfId:
            return !reg.maybe_null;
        default:
            return false;
    }
}

// After `p <= pkt_end` is proven for the packet pointer p (fixed part
// p.off), every pointer sharing p's variable part may touch p.off bytes
// from it (the kernel's find_good_pkt_pointers).
void mark_packet_range(State& state, const RegState& p) {
    if (p.off <= 0) return;
    auto widen = [&](RegState& reg) {
        if (reg.type == RegType::Packet && reg.id == p.id && reg.value == p.value)
            reg.range = std::max(reg.range, static_cast<uint32_t>(p.off));
    };
    for (Frame& frame : state.frames) {
        for (RegState& reg : frame.regs) widen(reg);
        for (int slot = 0; slot < kStackSlots; ++slot)
            if (frame.bytes[slot * 8] == StackByte::Spill) widen(frame.spills[slot]);
    }
}

// Sets every copy of the maybe-NULL pointer `id` (all frames, spills) to
// NULL (a scalar 0) or to its non-NULL form.
void mark_null_check(State& state, uint32_t id, bool is_null) {
    auto fix = [&](RegState& reg) {
        if (reg.id != id || !reg.maybe_null) return;
        if (is_null) {
            reg = RegState::scalar(Scalar::constant(0));
        } else {
            reg.maybe_null = false;
            reg.id = 0;
        }
    };
    uint32_t ref = 0;
    for (Frame& frame : state.frames) {
        for (RegState& reg : frame.regs) {
            if (reg.id == id && reg.maybe_null && reg.ref_obj_id) ref = reg.ref_obj_id;
            fix(reg);
        }
        for (int slot = 0; slot < kStackSlots; ++slot)
            if (frame.bytes[slot * 8] == StackByte::Spill) fix(frame.spills[slot]);
    }
    // A NULL result holds nothing to release.
    if (is_null && ref) std::erase_if(state.refs, [&](const Reference& r) { return r.id == ref; });
}

}  // namespace

Result<bool> Checker::step(Path& path) {
    const isa::Insn& insn = m_in.insns[path.pc];
    switch (insn.info().kind) {
        case isa::Kind::Alu:
        case isa::Kind::Endian:
            CRIB_TRY(alu(path, insn));
            path.pc++;
            return true;
        case isa::Kind::Jump:
            return jump(path, insn);
        case isa::Kind::Load:
            CRIB_TRY(load(path, insn));
            path.pc++;
            return true;
        case isa::Kind::Store:
            CRIB_TRY(store(path, insn));
            path.pc++;
            return true;
        case isa::Kind::Atomic:
            CRIB_TRY(atomic(path, insn));
            path.pc++;
            return true;
        case isa::Kind::Lddw:
            CRIB_TRY(lddw(path, insn));
            path.pc += 2;
            return true;
        case isa::Kind::LddwTail:
            return error(path.pc, EINVAL, "invalid BPF_LD_IMM insn");
        case isa::Kind::Call:
            // Helper and kfunc checks read their scalar arguments' values
            // (sizes, flags, NULL for nullable pointers).
            if (insn.info().operation != isa::Operation::Local)
                mark_precise(path, call_args(path.pc));
            return call(path, insn);
        case isa::Kind::Exit:
            mark_return_precise(path);
            return exit(path);
    }
    return error(path.pc, EINVAL, "unknown insn");
}

Result<void> Checker::check_reg_read(Path& path, int regno) {
    if (!path.state.reg(regno).is_init())
        return error(path.pc, EACCES, fmt::format("R{} !read_ok", regno));
    return {};
}

Result<RegState> Checker::source_operand(Path& path, const isa::Insn& insn, int width) {
    if (insn.info().source_is_reg()) {
        CRIB_TRY(check_reg_read(path, insn.src));
        return path.state.reg(insn.src);
    }
    uint64_t imm = width == 64 ? static_cast<uint64_t>(static_cast<int64_t>(insn.imm))
                               : static_cast<uint32_t>(insn.imm);
    return RegState::scalar(Scalar::constant(imm));
}

Result<void> Checker::alu(Path& path, const isa::Insn& insn) {
    const isa::OpInfo& row = insn.info();
    const int width = row.width;
    const int d = insn.dst;
    using enum isa::Operation;
    if (d == isa::kFramePointer) return error(path.pc, EACCES, "frame pointer is read only");

    if (row.kind == isa::Kind::Endian) {
        CRIB_TRY(check_reg_read(path, d));
        RegState& dst = path.state.reg(d);
        if (dst.is_pointer())
            return error(path.pc, EACCES, fmt::format("R{} pointer arithmetic prohibited", d));
        const Scalar& v = dst.value;
        if (row.operation == ToLe) {
            dst.value = scalar_truncate(v, row.size);
        } else if (v.is_const()) {
            uint64_t x = v.const_value();
            uint64_t swapped = row.size == 2   ? __builtin_bswap16(static_cast<uint16_t>(x))
                               : row.size == 4 ? __builtin_bswap32(static_cast<uint32_t>(x))
                                               : __builtin_bswap64(x);
            dst.value = Scalar::constant(swapped);
        } else {
            dst.value = Scalar::unknown_of_size(row.size);
        }
        return {};
    }

    RegState src = CRIB_TRY(source_operand(path, insn, width));

    if (row.operation == Mov) {
        if (width == 64) {
            path.state.reg(d) = src;
            return {};
        }
        if (src.is_pointer())
            return error(path.pc, EACCES, fmt::format("R{} partial copy of pointer", insn.src));
        path.state.reg(d) = RegState::scalar(scalar_truncate(src.value, 4));
        return {};
    }
    if (row.operation == Movsx) {
        if (src.is_pointer())
            return error(path.pc, EACCES, fmt::format("R{} sign-extension of pointer", insn.src));
        path.state.reg(d) = RegState::scalar(scalar_sext(src.value, row.size, width));
        return {};
    }

    CRIB_TRY(check_reg_read(path, d));
    RegState& dst = path.state.reg(d);
    if (!dst.is_pointer() && !src.is_pointer()) {
        Scalar operand = row.operation == Neg ? Scalar::constant(0) : src.value;
        dst.value = scalar_alu(row.operation, dst.value, operand, width);
        return {};
    }
    if (width == 32)
        return error(path.pc, EACCES,
                     fmt::format("R{} 32-bit pointer arithmetic prohibited",
                                 dst.is_pointer() ? d : insn.src));
    const RegState& ptr = dst.is_pointer() ? dst : src;
    const int ptr_reg = dst.is_pointer() ? d : insn.src;
    if (dst.is_pointer() && src.is_pointer()) {
        if (row.operation == Sub && dst.type == src.type && dst.type != RegType::MapPtr) {
            dst = RegState::unknown();  // a distance, not an address
            return {};
        }
        return error(path.pc, EACCES,
                     fmt::format("R{} pointer {} pointer prohibited", d, op_name(row.operation)));
    }
    if (row.operation != Add && row.operation != Sub) {
        bool bitwise = row.operation == And || row.operation == Or || row.operation == Xor;
        return error(path.pc, EACCES,
                     bitwise ? fmt::format("R{} bitwise operator {} on pointer prohibited", ptr_reg,
                                           op_name(row.operation))
                             : fmt::format("R{} pointer arithmetic with {} operator prohibited",
                                           ptr_reg, op_name(row.operation)));
    }
    if (!dst.is_pointer() && row.operation == Sub)
        return error(path.pc, EACCES, fmt::format("R{} tried to subtract pointer from scalar", d));
    if (!arithmetic_allowed(ptr)) {
        std::string suffix = ptr.maybe_null ? ", null-check it first" : "";
        return error(path.pc, EACCES,
                     fmt::format("R{} pointer arithmetic on {} prohibited{}", ptr_reg,
                                 type_name(ptr), suffix));
    }
    // The pointer's offset is checked on every access through it.
    if (dst.is_pointer() && row.source_is_reg())
        mark_precise(path, static_cast<RegMask>(1u << insn.src));
    if (!dst.is_pointer()) mark_precise(path, static_cast<RegMask>(1u << d));
    const Scalar& delta = dst.is_pointer() ? src.value : dst.value;
    RegState result = ptr;
    if (delta.is_const()) {
        auto c = static_cast<int64_t>(delta.const_value());
        int64_t off = row.operation == Add ? int64_t{result.off} + c : int64_t{result.off} - c;
        if (off < -(int64_t{1} << 29) || off > (int64_t{1} << 29))
            return error(
                path.pc, EACCES,
                fmt::format("value {} makes {} pointer be out of bounds", c, type_name(ptr)));
        result.off = static_cast<int32_t>(off);
    } else {
        result.value = scalar_alu(row.operation, result.value, delta, 64);
        if (result.type == RegType::Packet) {
            // A new variable part: what was proven of the old one is not
            // proven of this one.
            result.id = path.state.fresh_id();
            result.range = 0;
        }
    }
    dst = result;
    return {};
}

Result<bool> Checker::jump(Path& path, const isa::Insn& insn) {
    const isa::OpInfo& row = insn.info();
    const uint32_t target = static_cast<uint32_t>(
        static_cast<int64_t>(path.pc) + 1 +
        (row.operation == isa::Operation::Ja && row.width == 32 ? insn.imm : insn.off));
    if (row.operation == isa::Operation::Ja) {
        path.pc = target;
        return true;
    }
    const int width = row.width;
    CRIB_TRY(check_reg_read(path, insn.dst));
    RegState dst = path.state.reg(insn.dst);
    RegState src = CRIB_TRY(source_operand(path, insn, width));
    Cmp cmp = cmp_of(row.operation);
    std::optional<State> taken = path.state, fall = path.state;

    if (!dst.is_pointer() && !src.is_pointer()) {
        auto apply = [&](std::optional<State>& state, Cmp c) {
            Scalar a = dst.value, b = src.value;
            if (!refine(a, b, c, width)) return state.reset();
            state->reg(insn.dst).value = a;
            if (row.source_is_reg()) state->reg(insn.src).value = b;
        };
        apply(taken, cmp);
        apply(fall, negate(cmp));
        // A direction ruled out by the values: they must stay what they are.
        if (!taken || !fall)
            mark_precise(path, static_cast<RegMask>(1u << insn.dst |
                                                    (row.source_is_reg() ? 1u << insn.src : 0)));
    } else {
        if (width == 32)
            return error(path.pc, EACCES,
                         fmt::format("R{} 32-bit pointer comparison prohibited",
                                     dst.is_pointer() ? insn.dst : insn.src));
        const RegState& ptr = dst.is_pointer() ? dst : src;
        const RegState& other = dst.is_pointer() ? src : dst;
        bool against_zero =
            !other.is_pointer() && other.value.is_const() && other.value.const_value() == 0;
        if (!other.is_pointer() && row.source_is_reg())
            mark_precise(path,
                         static_cast<RegMask>(1u << (dst.is_pointer() ? insn.src : insn.dst)));
        if (dst.is_pointer() && src.is_pointer() && row.source_is_reg() &&
            (dst.type == RegType::PacketEnd) != (src.type == RegType::PacketEnd) &&
            (dst.type == RegType::Packet || src.type == RegType::Packet)) {
            // Which direction proves packet pointer <= pkt_end.
            const bool pkt_left = dst.type == RegType::Packet;
            std::optional<State>* proven = nullptr;
            switch (cmp) {
                case Cmp::Ugt:
                case Cmp::Uge:
                    proven = pkt_left ? &fall : &taken;
                    break;
                case Cmp::Ult:
                case Cmp::Ule:
                    proven = pkt_left ? &taken : &fall;
                    break;
                default:
                    break;
            }
            if (proven) mark_packet_range(**proven, pkt_left ? dst : src);
        } else if (against_zero && (cmp == Cmp::Eq || cmp == Cmp::Ne)) {
            std::optional<State>& null_side = cmp == Cmp::Eq ? taken : fall;
            std::optional<State>& set_side = cmp == Cmp::Eq ? fall : taken;
            if (ptr.maybe_null) {
                mark_null_check(*null_side, ptr.id, true);
                mark_null_check(*set_side, ptr.id, false);
            } else {
                null_side.reset();  // a pointer that cannot be NULL
            }
        }
    }
    if (!taken && !fall) return false;
    if (taken && fall) {
        push(Path{std::move(*taken), target, path.parent, path.reentries, path.trail});
        path.state = std::move(*fall);
        path.pc++;
        return true;
    }
    if (taken) {
        path.state = std::move(*taken);
        path.pc = target;
    } else {
        path.state = std::move(*fall);
        path.pc++;
    }
    return true;
}

Result<void> Checker::lddw(Path& path, const isa::Insn& insn) {
    const int d = insn.dst;
    using enum isa::Operation;
    switch (insn.info().operation) {
        case Imm64:
            path.state.reg(d) = RegState::scalar(Scalar::constant(insn.imm64));
            return {};
        case MapIdx:
        case MapIdxValue: {
            auto index = static_cast<uint32_t>(insn.imm);
            if (index >= m_in.maps.size())
                return error(path.pc, EINVAL,
                             fmt::format("fd {} is not pointing to valid bpf_map", index));
            const maps::MapSpec& spec = m_in.maps[index].spec;
            RegState reg = RegState::pointer(insn.info().operation == MapIdx ? RegType::MapPtr
                                                                             : RegType::MapValue);
            reg.map = index;
            if (insn.info().operation == MapIdxValue) {
                auto offset = static_cast<uint32_t>(m_in.insns[path.pc + 1].imm);
                if (spec.type != maps::MapType::Array || spec.max_entries != 1)
                    return error(path.pc, EINVAL,
                                 "no direct value access support for this map type");
                if (offset >= spec.value_size)
                    return error(
                        path.pc, EACCES,
                        fmt::format("invalid access to map value pointer, value_size={} off={}",
                                    spec.value_size, offset));
                reg.off = static_cast<int32_t>(offset);
                reg.read_only = (spec.flags & maps::kRdonlyProg) != 0;
            }
            path.state.reg(d) = reg;
            return {};
        }
        case Func: {
            RegState reg = RegState::pointer(RegType::Func);
            reg.subprog = static_cast<uint32_t>(static_cast<int64_t>(path.pc) + 1 + insn.imm);
            path.state.reg(d) = reg;
            return {};
        }
        case BtfId:
            path.state.reg(d) = RegState::pointer(RegType::BtfId);
            return {};
        case MapFd:
        case MapValue:
            return error(path.pc, EINVAL,
                         "map fd references are not supported; objects refer to maps by index");
        default:
            return error(path.pc, EINVAL, "invalid BPF_LD_IMM insn");
    }
}

}  // namespace crib::verifier
