// Memory access rules: stack (per byte, with spills), ctx (the program
// type's rule), map values and keys, helper-returned memory, typed objects
// (their BTF's rule, btf_access.cpp). A pointer's offset is its fixed part
// plus a variable part; every offset the variable part allows must be in
// bounds.
#include <algorithm>
#include <cstddef>

#include "verifier/btf_access.hpp"
#include "verifier/checker.hpp"

namespace crib::verifier {
namespace {

constexpr int64_t kMaxVarOff = int64_t{1} << 29;

// Context fields that hold packet addresses, per program type (the
// kernel's convert_ctx_access turning xdp_md->data into PTR_TO_PACKET).
struct PacketField {
    progs::ProgType type;
    int32_t off;
    RegType kind;
};
constexpr PacketField kPacketFields[] = {
    {progs::ProgType::Xdp, offsetof(progs::XdpMd, data), RegType::Packet},
    {progs::ProgType::Xdp, offsetof(progs::XdpMd, data_end), RegType::PacketEnd},
};

// Types whose context is a plain buffer the caller sizes, so a bounded
// variable offset is safe: every offset it may take is checked and the
// largest recorded for BPF_PROG_RUN's ctx_size_in (the demo scans its text
// so). The kernel refuses variable ctx offsets for every type; crib does
// for all others.
constexpr progs::ProgType kVarOffCtxTypes[] = {progs::ProgType::Syscall};

// The largest offset a packet access may reach (the kernel's MAX_PACKET_OFF).
constexpr int64_t kMaxPacketOff = 0xffff;

std::string_view verb(Access access) {
    return access == Access::Read ? "read from" : "write to";
}

}  // namespace

Result<void> Checker::check_mem(Path& path, int regno, int32_t off, int size, Access access,
                                RegState* io, bool sign_extend) {
    const uint32_t pc = path.pc;
    if (!path.state.reg(regno).is_init())
        return error(pc, EACCES, fmt::format("R{} !read_ok", regno));
    const RegState reg = path.state.reg(regno);
    if (!reg.is_pointer() || reg.maybe_null || reg.type == RegType::MapPtr ||
        reg.type == RegType::Func)
        return error(pc, EACCES, fmt::format("R{} invalid mem access '{}'", regno, type_name(reg)));
    // Typed objects: their BTF decides, before any generic offset rule.
    if (reg.type == RegType::BtfId) {
        auto loaded =
            check_btf_access(reg, regno, off, size, access != Access::Read, sign_extend, io);
        if (!loaded) return error(pc, loaded.error().code(), loaded.error().message());
        if (access == Access::Read && io) *io = RegState::scalar(*loaded);
        return {};
    }
    const Scalar& var = reg.value;
    if (var.smin < -kMaxVarOff && reg.type != RegType::Stack)
        return error(pc, EACCES,
                     fmt::format("R{} min value is negative, either use unsigned index or do a if "
                                 "(index >=0) check.",
                                 regno));
    if (var.smin < -kMaxVarOff || var.smax > kMaxVarOff)
        return error(pc, EACCES,
                     fmt::format("R{} unbounded memory access, make sure to bounds check any such "
                                 "access",
                                 regno));
    const int64_t lo = int64_t{reg.off} + off + var.smin;
    const int64_t hi = int64_t{reg.off} + off + var.smax;  // start of the last possible access
    const bool writes = access != Access::Read;
    if (writes && io && io->is_pointer() && reg.type != RegType::Stack)
        return error(pc, EACCES,
                     fmt::format("R{} leaks addr into {}", regno == isa::kFramePointer ? 0 : regno,
                                 reg.type == RegType::Ctx   ? "ctx"
                                 : reg.type == RegType::Mem ? "mem"
                                                            : "map"));

    auto bounded = [&](uint64_t limit, std::string_view what,
                       std::string_view size_name) -> Result<void> {
        if (lo < 0 && !var.is_const() && var.smin < 0)
            return error(
                pc, EACCES,
                fmt::format("R{} min value is negative, either use unsigned index or do a if "
                            "(index >=0) check.",
                            regno));
        if (lo < 0 || hi + size > static_cast<int64_t>(limit))
            return error(pc, EACCES,
                         fmt::format("invalid access to {}, {}={} off={} size={}", what, size_name,
                                     limit, lo < 0 ? lo : hi, size));
        return {};
    };

    switch (reg.type) {
        case RegType::Stack:
            m_load_size = size;
            m_load_sext = sign_extend;
            m_store_value = io ? *io : RegState::unknown();
            CRIB_TRY(check_stack_range(path, regno, reg, lo, hi, access, nullptr));
            if (access == Access::Read && io) *io = m_loaded;
            return {};
        case RegType::Ctx: {
            if (!var.is_const() && std::find(std::begin(kVarOffCtxTypes), std::end(kVarOffCtxTypes),
                                             m_in.type.type) == std::end(kVarOffCtxTypes))
                return error(pc, EACCES,
                             fmt::format("variable ctx access var_off={} off={} size={}",
                                         var.var.to_string(), int64_t{reg.off} + off, size));
            if (writes && m_in.type.ctx.read_only)
                return error(
                    pc, EACCES,
                    fmt::format("invalid bpf_context access off={} size={}: the {} context is "
                                "read-only",
                                lo, size, m_in.type.name));
            if (hi - lo > 65536 || lo < 0)
                return error(pc, EACCES,
                             fmt::format("invalid bpf_context access off={} size={}", lo, size));
            auto type = writes ? progs::AccessType::Write : progs::AccessType::Read;
            for (int64_t o = lo; o <= hi; ++o) {
                if (!var.var.contains(static_cast<uint64_t>(o - reg.off - off))) continue;
                if (!progs::check_ctx_access(m_in.type, static_cast<int32_t>(o), size, type,
                                             m_max_ctx_offset))
                    return error(pc, EACCES,
                                 fmt::format("invalid bpf_context access off={} size={}", o, size));
            }
            if (access == Access::Read && io)
                for (const PacketField& field : kPacketFields)
                    if (field.type == m_in.type.type && field.off == lo &&
                        size == sizeof(uint32_t)) {
                        *io = RegState::pointer(field.kind);
                        return {};
                    }
            break;
        }
        case RegType::Packet: {
            const int64_t start = int64_t{reg.off} + off;
            if (var.smin < 0)
                return error(pc, EACCES,
                             fmt::format("R{} min value is negative, either use unsigned index or "
                                         "do a if (index >=0) check.",
                                         regno));
            if (var.umax + start + size > static_cast<uint64_t>(kMaxPacketOff))
                return error(pc, EACCES,
                             fmt::format("R{} unbounded memory access, make sure to bounds check "
                                         "any such access",
                                         regno));
            if (start < 0 || start + size > reg.range)
                return error(pc, EACCES,
                             fmt::format("invalid access to packet, off={} size={}, R{}(id={},"
                                         "off={},r={}): R{} offset is outside of the packet",
                                         start, size, regno, reg.id, reg.off, reg.range, regno));
            break;
        }
        case RegType::MapValue: {
            const maps::MapSpec& spec = m_in.maps[reg.map].spec;
            if (writes && reg.read_only)
                return error(pc, EACCES,
                             fmt::format("write into map forbidden, value_size={} off={} size={}",
                                         spec.value_size, lo, size));
            CRIB_TRY(bounded(spec.value_size, "map value", "value_size"));
            break;
        }
        case RegType::MapKey: {
            const maps::MapSpec& spec = m_in.maps[reg.map].spec;
            if (writes) return error(pc, EACCES, fmt::format("R{} map key is read-only", regno));
            CRIB_TRY(bounded(spec.key_size, "map key", "key_size"));
            break;
        }
        case RegType::Mem:
            if (writes && reg.read_only)
                return error(pc, EACCES,
                             fmt::format("R{} cannot write into {}", regno, type_name(reg)));
            CRIB_TRY(bounded(reg.mem_size, "memory", "mem_size"));
            break;
        default:
            return error(pc, EACCES,
                         fmt::format("R{} invalid mem access '{}'", regno, type_name(reg)));
    }
    if (access == Access::Read && io) *io = RegState::scalar(loaded_scalar(size, sign_extend));
    return {};
}

Result<std::pair<int64_t, int64_t>> Checker::stack_span(const Path& path, int regno,
                                                        const RegState& base, int16_t off) {
    if (base.value.smin < -kMaxVarOff || base.value.smax > kMaxVarOff)
        return error(path.pc, EACCES,
                     fmt::format("R{} unbounded memory access, make sure to bounds check any "
                                 "such access",
                                 regno));
    return std::pair{int64_t{base.off} + off + base.value.smin,
                     int64_t{base.off} + off + base.value.smax};
}

Result<void> Checker::load(Path& path, const isa::Insn& insn) {
    RegState value;
    const RegState& base = path.state.reg(insn.src);
    if (base.is_init() && base.type == RegType::Stack) {
        auto [lo, hi] = CRIB_TRY(stack_span(path, insn.src, base, insn.off));
        m_load_size = insn.info().size;
        m_load_sext = insn.info().operation == isa::Operation::LoadSx;
        CRIB_TRY(check_stack_range(path, insn.src, base, lo, hi, Access::Read, nullptr));
        value = m_loaded;
    } else {
        CRIB_TRY(check_mem(path, insn.src, insn.off, insn.info().size, Access::Read, &value,
                           insn.info().operation == isa::Operation::LoadSx));
    }
    path.state.reg(insn.dst) = value;
    return {};
}

Result<void> Checker::store(Path& path, const isa::Insn& insn) {
    RegState value;
    if (insn.info().operation == isa::Operation::StoreReg) {
        CRIB_TRY(check_reg_read(path, insn.src));
        value = path.state.reg(insn.src);
    } else {
        value = RegState::scalar(
            Scalar::constant(static_cast<uint64_t>(static_cast<int64_t>(insn.imm))));
    }
    const RegState& base = path.state.reg(insn.dst);
    if (base.is_init() && base.type == RegType::Stack) {
        auto [lo, hi] = CRIB_TRY(stack_span(path, insn.dst, base, insn.off));
        m_load_size = insn.info().size;
        m_store_value = value;
        return check_stack_range(path, insn.dst, base, lo, hi, Access::Write, nullptr);
    }
    return check_mem(path, insn.dst, insn.off, insn.info().size, Access::Write, &value);
}

Result<void> Checker::atomic(Path& path, const isa::Insn& insn) {
    CRIB_TRY(check_reg_read(path, insn.src));
    if (insn.info().operation == isa::Operation::Cmpxchg) CRIB_TRY(check_reg_read(path, 0));
    RegState value = path.state.reg(insn.src);
    if (value.is_pointer())
        return error(path.pc, EACCES, fmt::format("R{} leaks addr into mem", insn.src));
    const RegState& base = path.state.reg(insn.dst);
    if (base.is_init() && base.type == RegType::Ctx)
        return error(path.pc, EACCES,
                     fmt::format("BPF_ATOMIC stores into R{} ctx is not allowed", insn.dst));
    if (base.is_init() && base.type == RegType::Stack) {
        int64_t lo = int64_t{base.off} + insn.off + base.value.smin;
        int64_t hi = int64_t{base.off} + insn.off + base.value.smax;
        m_load_size = insn.info().size;
        m_load_sext = false;
        CRIB_TRY(check_stack_range(path, insn.dst, base, lo, hi, Access::Read, nullptr));
        if (m_loaded.is_pointer())
            return error(path.pc, EACCES,
                         fmt::format("BPF_ATOMIC on spilled pointer R{} is not allowed", insn.dst));
        m_store_value = RegState::unknown();
        CRIB_TRY(check_stack_range(path, insn.dst, base, lo, hi, Access::Write, nullptr));
    } else {
        RegState scratch = RegState::unknown();
        CRIB_TRY(
            check_mem(path, insn.dst, insn.off, insn.info().size, Access::ReadWrite, &scratch));
    }
    Scalar fetched = Scalar::unknown_of_size(insn.info().size);
    switch (insn.info().operation) {
        case isa::Operation::FetchAdd:
        case isa::Operation::FetchOr:
        case isa::Operation::FetchAnd:
        case isa::Operation::FetchXor:
        case isa::Operation::Xchg:
            path.state.reg(insn.src) = RegState::scalar(fetched);
            break;
        case isa::Operation::Cmpxchg:
            path.state.reg(0) = RegState::scalar(fetched);
            break;
        default:
            break;
    }
    return {};
}

// Stack bytes [lo, hi + size) relative to the frame's r10, where lo..hi are
// the possible starts. Reads need every byte written; an aligned 8-byte
// access of a spill slot moves the whole register.
Result<void> Checker::check_stack_range(Path& path, int regno, const RegState& reg, int64_t lo,
                                        int64_t hi, Access access, const char*) {
    const uint32_t pc = path.pc;
    const int size = m_load_size;
    Frame& frame = path.state.frames[reg.frameno];
    const bool fixed = lo == hi;
    if (lo < -isa::kStackSize || hi + size > 0) {
        if (fixed)
            return error(
                pc, EACCES,
                fmt::format("invalid {} stack R{} off={} size={}", verb(access), regno, lo, size));
        return error(pc, EACCES,
                     fmt::format("invalid variable-offset {} stack R{} var_off={} off={} size={}",
                                 verb(access), regno, reg.value.var.to_string(), reg.off, size));
    }
    frame.depth = std::max<uint32_t>(frame.depth, static_cast<uint32_t>(-lo));
    note_stack_depth(path.state);
    auto index = [](int64_t off) { return static_cast<size_t>(off + isa::kStackSize); };

    if (access == Access::Read) {
        bool all_zero = true, any_spill = false;
        for (int64_t b = lo; b < hi + size; ++b) {
            StackByte kind = frame.bytes[index(b)];
            if (kind == StackByte::Invalid) {
                if (fixed)
                    return error(
                        pc, EACCES,
                        fmt::format("invalid read from stack off {}+{} size {}", lo, b - lo, size));
                return error(pc, EACCES,
                             fmt::format("invalid read from stack R{} var_off={}+{} size {}", regno,
                                         reg.value.var.to_string(), reg.off, size));
            }
            if (kind == StackByte::Iter)
                return error(pc, EACCES,
                             fmt::format("invalid read from stack off {}+{} size {}: iter_{} state",
                                         lo, b - lo, size, frame.iters[index(b) / 8].name));
            if (kind != StackByte::Zero) all_zero = false;
            if (kind == StackByte::Spill) any_spill = true;
        }
        if (fixed && size == 8 && lo % 8 == 0 && frame.bytes[index(lo)] == StackByte::Spill) {
            m_loaded = frame.spills[index(lo) / 8];
            return {};
        }
        if (any_spill) {
            for (int64_t b = lo; b < hi + size; ++b)
                if (frame.bytes[index(b)] == StackByte::Spill &&
                    frame.spills[index(b) / 8].is_pointer())
                    return error(pc, EACCES, fmt::format("invalid size of register fill"));
        }
        m_loaded =
            RegState::scalar(all_zero ? Scalar::constant(0) : loaded_scalar(size, m_load_sext));
        return {};
    }

    for (int64_t b = lo; b < hi + size; ++b)
        if (frame.bytes[index(b)] == StackByte::Iter)
            return error(pc, EACCES,
                         fmt::format("cannot overwrite iter_{} state at stack off {}",
                                     frame.iters[index(b) / 8].name, b));
    const RegState& value = m_store_value;
    if (!fixed) {
        if (value.is_pointer())
            return error(pc, EACCES, "spilled ptr in var-offset stack write prohibited");
        // Any byte may or may not be written: written ones lose what they held.
        for (int64_t b = lo; b < hi + size; ++b) {
            StackByte& kind = frame.bytes[index(b)];
            if (kind == StackByte::Spill) {
                size_t slot = index(b) / 8;
                for (int i = 0; i < 8; ++i) frame.bytes[slot * 8 + i] = StackByte::Misc;
            } else if (kind == StackByte::Zero) {
                kind = StackByte::Misc;
            }
        }
        return {};
    }
    const size_t first = index(lo);
    if (value.type == RegType::Stack && value.frameno > reg.frameno)
        return error(pc, EACCES, "cannot spill pointers to stack into stack frame of the caller");
    if (size == 8 && lo % 8 == 0) {
        for (int i = 0; i < 8; ++i) frame.bytes[first + i] = StackByte::Spill;
        frame.spills[first / 8] = value;
        return {};
    }
    if (value.is_pointer()) return error(pc, EACCES, "invalid size of register spill");
    bool zero = value.value.is_const() && scalar_truncate(value.value, size).const_value() == 0;
    for (int i = 0; i < size; ++i) {
        size_t slot = (first + i) / 8;
        if (frame.bytes[slot * 8] == StackByte::Spill)
            for (int j = 0; j < 8; ++j) frame.bytes[slot * 8 + j] = StackByte::Misc;
    }
    for (int i = 0; i < size; ++i)
        frame.bytes[first + i] = zero ? StackByte::Zero : StackByte::Misc;
    return {};
}

}  // namespace crib::verifier
