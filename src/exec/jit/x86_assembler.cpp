#include "exec/jit/x86_assembler.hpp"

#include <array>
#include <limits>

namespace crib::exec::jit {
namespace {

// Opcode bytes, named after the Intel SDM's mnemonics and operand forms.
namespace opc {
constexpr uint8_t kOperandSize16 = 0x66;  // prefix
constexpr uint8_t kLock = 0xf0;           // prefix
constexpr uint8_t kRexBase = 0x40;
constexpr uint8_t kTwoByte = 0x0f;  // escape to the 0F xx map

constexpr uint8_t kAluRmR8 = 0x00;     // add r/m8, r8; + op << 3 for the others
constexpr uint8_t kAluRmR = 0x01;      // add r/m, r; + op << 3 for the others
constexpr uint8_t kAluRmImm32 = 0x81;  // group 1, imm32
constexpr uint8_t kAluRmImm8 = 0x83;   // group 1, sign-extended imm8
constexpr uint8_t kTestRmR = 0x85;
constexpr uint8_t kXchgRmR = 0x87;
constexpr uint8_t kMovRmR8 = 0x88;
constexpr uint8_t kMovRmR = 0x89;
constexpr uint8_t kMovRRm = 0x8b;
constexpr uint8_t kLea = 0x8d;
constexpr uint8_t kMovsxd = 0x63;
constexpr uint8_t kImulRRmImm32 = 0x69;
constexpr uint8_t kImulRRmImm8 = 0x6b;
constexpr uint8_t kCdqCqo = 0x99;
constexpr uint8_t kMovRImm = 0xb8;  // + register
constexpr uint8_t kShiftRmImm8 = 0xc1;
constexpr uint8_t kRetNear = 0xc3;
constexpr uint8_t kMovRmImm8 = 0xc6;
constexpr uint8_t kMovRmImm = 0xc7;
constexpr uint8_t kShiftRmCl = 0xd3;
constexpr uint8_t kCallRel32 = 0xe8;
constexpr uint8_t kJmpRel32 = 0xe9;
constexpr uint8_t kJmpRel8 = 0xeb;
constexpr uint8_t kJccRel8 = 0x70;  // + condition
constexpr uint8_t kGroup3 = 0xf7;   // test imm, not, neg, mul, imul, div, idiv
constexpr uint8_t kGroup5 = 0xff;   // inc, dec, call, jmp, push
constexpr uint8_t kPushR = 0x50;    // + register
constexpr uint8_t kPopR = 0x58;     // + register

// Second bytes after kTwoByte.
constexpr uint8_t kJccRel32 = 0x80;  // + condition
constexpr uint8_t kImulRRm = 0xaf;
constexpr uint8_t kCmpxchgRmR = 0xb1;
constexpr uint8_t kMovzxR8 = 0xb6;
constexpr uint8_t kMovzxR16 = 0xb7;
constexpr uint8_t kMovsxR8 = 0xbe;
constexpr uint8_t kMovsxR16 = 0xbf;
constexpr uint8_t kXaddRmR = 0xc1;
constexpr uint8_t kBswapR = 0xc8;  // + register
}  // namespace opc

// ModRM reg-field extensions of the group opcodes.
namespace ext {
constexpr unsigned kMovImm = 0;
constexpr unsigned kTestImm = 0;
constexpr unsigned kNeg = 3;
constexpr unsigned kDiv = 6;
constexpr unsigned kIdiv = 7;
constexpr unsigned kCall = 2;
}  // namespace ext

// ModRM mod field values.
constexpr unsigned kModIndirect = 0;
constexpr unsigned kModDisp8 = 1;
constexpr unsigned kModDisp32 = 2;
constexpr unsigned kModDirect = 3;
constexpr unsigned kRmSib = 4;          // rm value announcing a SIB byte
constexpr unsigned kRmDisp32Only = 5;   // with mod 0: no base (rip-relative)
constexpr uint8_t kSibBaseOnly = 0x24;  // scale 1, no index, base from rm

unsigned num(Reg reg) {
    return static_cast<unsigned>(reg);
}
bool fits_int8(int64_t value) {
    return value >= -128 && value <= 127;
}
// Registers whose low byte has no encoding without a REX prefix.
bool needs_rex_for_byte(unsigned reg) {
    return reg >= 4 && reg <= 7;
}

template <typename... B>
std::array<uint8_t, sizeof...(B)> bytes(B... values) {
    return {static_cast<uint8_t>(values)...};
}

}  // namespace

Label Assembler::new_label() {
    m_labels.push_back(-1);
    return Label{static_cast<uint32_t>(m_labels.size() - 1)};
}

void Assembler::bind(Label label) {
    m_labels[label.id] = static_cast<int64_t>(m_code.size());
}

void Assembler::imm16(uint16_t value) {
    byte(static_cast<uint8_t>(value));
    byte(static_cast<uint8_t>(value >> 8));
}

void Assembler::imm32(uint32_t value) {
    for (int i = 0; i < 4; ++i) byte(static_cast<uint8_t>(value >> (8 * i)));
}

void Assembler::imm64(uint64_t value) {
    imm32(static_cast<uint32_t>(value));
    imm32(static_cast<uint32_t>(value >> 32));
}

void Assembler::rex(bool w, unsigned reg, unsigned index, unsigned base, bool force) {
    const uint8_t bits =
        static_cast<uint8_t>((w ? 8 : 0) | (reg >> 3) << 2 | (index >> 3) << 1 | base >> 3);
    if (bits || force) byte(opc::kRexBase | bits);
}

void Assembler::modrm(unsigned mod, unsigned reg, unsigned rm) {
    byte(static_cast<uint8_t>(mod << 6 | (reg & 7) << 3 | (rm & 7)));
}

void Assembler::memory_operand(unsigned reg, Mem mem) {
    const unsigned base = num(mem.base) & 7;
    unsigned mod = kModDisp32;
    if (mem.disp == 0 && base != kRmDisp32Only)
        mod = kModIndirect;
    else if (fits_int8(mem.disp))
        mod = kModDisp8;
    modrm(mod, reg, base);
    if (base == kRmSib) byte(kSibBaseOnly);
    if (mod == kModDisp8) byte(static_cast<uint8_t>(mem.disp));
    if (mod == kModDisp32) imm32(static_cast<uint32_t>(mem.disp));
}

void Assembler::op_rr(Width width, std::span<const uint8_t> opcode, unsigned reg, Reg rm,
                      bool byte_regs) {
    if (width == Width::W16) byte(opc::kOperandSize16);
    const bool force = byte_regs && (needs_rex_for_byte(reg) || needs_rex_for_byte(num(rm)));
    rex(width == Width::W64, reg, 0, num(rm), force);
    for (uint8_t b : opcode) byte(b);
    modrm(kModDirect, reg, num(rm));
}

void Assembler::op_rm(Width width, std::span<const uint8_t> opcode, unsigned reg, Mem mem,
                      bool byte_reg) {
    if (width == Width::W16) byte(opc::kOperandSize16);
    rex(width == Width::W64, reg, 0, num(mem.base), byte_reg && needs_rex_for_byte(reg));
    for (uint8_t b : opcode) byte(b);
    memory_operand(reg, mem);
}

void Assembler::mov(Width width, Reg dst, Reg src) {
    op_rr(width, bytes(opc::kMovRmR), num(src), dst);
}

void Assembler::mov_imm(Width width, Reg dst, int32_t imm) {
    if (width == Width::W64) {
        op_rr(width, bytes(opc::kMovRmImm), ext::kMovImm, dst);
    } else {
        rex(false, 0, 0, num(dst));
        byte(static_cast<uint8_t>(opc::kMovRImm + (num(dst) & 7)));
    }
    imm32(static_cast<uint32_t>(imm));
}

void Assembler::mov_imm64(Reg dst, uint64_t imm) {
    if (imm <= std::numeric_limits<uint32_t>::max()) {
        mov_imm(Width::W32, dst, static_cast<int32_t>(imm));  // zero-extends
    } else if (static_cast<int64_t>(imm) >= std::numeric_limits<int32_t>::min() &&
               static_cast<int64_t>(imm) < 0) {
        mov_imm(Width::W64, dst, static_cast<int32_t>(imm));  // sign-extends
    } else {
        rex(true, 0, 0, num(dst));
        byte(static_cast<uint8_t>(opc::kMovRImm + (num(dst) & 7)));
        imm64(imm);
    }
}

void Assembler::movzx(Width from, Reg dst, Reg src) {
    const uint8_t second = from == Width::W8 ? opc::kMovzxR8 : opc::kMovzxR16;
    op_rr(Width::W32, bytes(opc::kTwoByte, second), num(dst), src, from == Width::W8);
}

void Assembler::movsx(Width from, Width to, Reg dst, Reg src) {
    if (from == Width::W32) {
        op_rr(Width::W64, bytes(opc::kMovsxd), num(dst), src);
        return;
    }
    const uint8_t second = from == Width::W8 ? opc::kMovsxR8 : opc::kMovsxR16;
    op_rr(to, bytes(opc::kTwoByte, second), num(dst), src, from == Width::W8);
}

void Assembler::lea(Reg dst, Mem mem) {
    op_rm(Width::W64, bytes(opc::kLea), num(dst), mem);
}

void Assembler::alu(AluOp op, Width width, Reg dst, Reg src) {
    const auto base = width == Width::W8 ? opc::kAluRmR8 : opc::kAluRmR;
    op_rr(width, bytes(base + (static_cast<unsigned>(op) << 3)), num(src), dst, width == Width::W8);
}

void Assembler::alu_imm(AluOp op, Width width, Reg dst, int32_t imm) {
    if (fits_int8(imm)) {
        op_rr(width, bytes(opc::kAluRmImm8), static_cast<unsigned>(op), dst);
        byte(static_cast<uint8_t>(imm));
    } else {
        op_rr(width, bytes(opc::kAluRmImm32), static_cast<unsigned>(op), dst);
        imm32(static_cast<uint32_t>(imm));
    }
}

void Assembler::test(Width width, Reg a, Reg b) {
    op_rr(width, bytes(opc::kTestRmR), num(b), a);
}

void Assembler::test_imm(Width width, Reg a, int32_t imm) {
    op_rr(width, bytes(opc::kGroup3), ext::kTestImm, a);
    imm32(static_cast<uint32_t>(imm));
}

void Assembler::imul(Width width, Reg dst, Reg src) {
    op_rr(width, bytes(opc::kTwoByte, opc::kImulRRm), num(dst), src);
}

void Assembler::imul_imm(Width width, Reg dst, Reg src, int32_t imm) {
    if (fits_int8(imm)) {
        op_rr(width, bytes(opc::kImulRRmImm8), num(dst), src);
        byte(static_cast<uint8_t>(imm));
    } else {
        op_rr(width, bytes(opc::kImulRRmImm32), num(dst), src);
        imm32(static_cast<uint32_t>(imm));
    }
}

void Assembler::neg(Width width, Reg dst) {
    op_rr(width, bytes(opc::kGroup3), ext::kNeg, dst);
}
void Assembler::div(Width width, Reg divisor) {
    op_rr(width, bytes(opc::kGroup3), ext::kDiv, divisor);
}
void Assembler::idiv(Width width, Reg divisor) {
    op_rr(width, bytes(opc::kGroup3), ext::kIdiv, divisor);
}

void Assembler::sign_extend_accumulator(Width width) {
    rex(width == Width::W64, 0, 0, 0);
    byte(opc::kCdqCqo);
}

void Assembler::shift_cl(ShiftOp op, Width width, Reg dst) {
    op_rr(width, bytes(opc::kShiftRmCl), static_cast<unsigned>(op), dst);
}

void Assembler::shift_imm(ShiftOp op, Width width, Reg dst, uint8_t count) {
    op_rr(width, bytes(opc::kShiftRmImm8), static_cast<unsigned>(op), dst);
    byte(count);
}

void Assembler::bswap(Width width, Reg dst) {
    rex(width == Width::W64, 0, 0, num(dst));
    byte(opc::kTwoByte);
    byte(static_cast<uint8_t>(opc::kBswapR + (num(dst) & 7)));
}

void Assembler::load(Width width, Reg dst, Mem src, bool sign) {
    switch (width) {
        case Width::W8:
            op_rm(sign ? Width::W64 : Width::W32,
                  bytes(opc::kTwoByte, sign ? opc::kMovsxR8 : opc::kMovzxR8), num(dst), src);
            break;
        case Width::W16:
            op_rm(sign ? Width::W64 : Width::W32,
                  bytes(opc::kTwoByte, sign ? opc::kMovsxR16 : opc::kMovzxR16), num(dst), src);
            break;
        case Width::W32:
            if (sign)
                op_rm(Width::W64, bytes(opc::kMovsxd), num(dst), src);
            else
                op_rm(Width::W32, bytes(opc::kMovRRm), num(dst), src);
            break;
        case Width::W64:
            op_rm(Width::W64, bytes(opc::kMovRRm), num(dst), src);
            break;
    }
}

void Assembler::store(Width width, Mem dst, Reg src) {
    if (width == Width::W8)
        op_rm(width, bytes(opc::kMovRmR8), num(src), dst, true);
    else
        op_rm(width, bytes(opc::kMovRmR), num(src), dst);
}

void Assembler::store_imm(Width width, Mem dst, int32_t imm) {
    if (width == Width::W8) {
        op_rm(width, bytes(opc::kMovRmImm8), ext::kMovImm, dst);
        byte(static_cast<uint8_t>(imm));
        return;
    }
    op_rm(width, bytes(opc::kMovRmImm), ext::kMovImm, dst);
    if (width == Width::W16)
        imm16(static_cast<uint16_t>(imm));
    else
        imm32(static_cast<uint32_t>(imm));
}

void Assembler::lock_alu(AluOp op, Width width, Mem dst, Reg src) {
    byte(opc::kLock);
    op_rm(width, bytes(opc::kAluRmR + (static_cast<unsigned>(op) << 3)), num(src), dst);
}

void Assembler::lock_xadd(Width width, Mem dst, Reg src) {
    byte(opc::kLock);
    op_rm(width, bytes(opc::kTwoByte, opc::kXaddRmR), num(src), dst);
}

void Assembler::xchg(Width width, Mem dst, Reg src) {
    op_rm(width, bytes(opc::kXchgRmR), num(src), dst);
}

void Assembler::lock_cmpxchg(Width width, Mem dst, Reg src) {
    byte(opc::kLock);
    op_rm(width, bytes(opc::kTwoByte, opc::kCmpxchgRmR), num(src), dst);
}

void Assembler::push(Reg reg) {
    rex(false, 0, 0, num(reg));
    byte(static_cast<uint8_t>(opc::kPushR + (num(reg) & 7)));
}

void Assembler::pop(Reg reg) {
    rex(false, 0, 0, num(reg));
    byte(static_cast<uint8_t>(opc::kPopR + (num(reg) & 7)));
}

void Assembler::ret() {
    byte(opc::kRetNear);
}

void Assembler::call(Reg target) {
    op_rr(Width::W32, bytes(opc::kGroup5), ext::kCall, target);
}

void Assembler::call(Label target) {
    branch(target, false, {}, bytes(opc::kCallRel32));
}

void Assembler::jmp(Label target, bool short_form) {
    branch(target, short_form, bytes(opc::kJmpRel8), bytes(opc::kJmpRel32));
}

void Assembler::jcc(Cond cond, Label target, bool short_form) {
    const auto cc = static_cast<uint8_t>(cond);
    branch(target, short_form, bytes(opc::kJccRel8 + cc),
           bytes(opc::kTwoByte, opc::kJccRel32 + cc));
}

void Assembler::branch(Label target, bool short_form, std::span<const uint8_t> short_op,
                       std::span<const uint8_t> near_op) {
    for (uint8_t b : short_form ? short_op : near_op) byte(b);
    const uint8_t width = short_form ? 1 : 4;
    m_fixups.push_back({target.id, static_cast<uint32_t>(m_code.size()), width});
    for (uint8_t i = 0; i < width; ++i) byte(0);
}

Result<std::vector<uint8_t>> Assembler::finish() {
    for (const Fixup& fixup : m_fixups) {
        const int64_t target = m_labels[fixup.label];
        if (target < 0) return make_error(EINVAL, "jit: jump to an unbound label {}", fixup.label);
        const int64_t rel = target - (static_cast<int64_t>(fixup.at) + fixup.bytes);
        if (fixup.bytes == 1) {
            if (!fits_int8(rel))
                return make_error(EINVAL, "jit: short jump at {} cannot reach {}", fixup.at,
                                  target);
            m_code[fixup.at] = static_cast<uint8_t>(rel);
        } else {
            for (int i = 0; i < 4; ++i)
                m_code[fixup.at + i] = static_cast<uint8_t>(static_cast<uint32_t>(rel) >> (8 * i));
        }
    }
    return std::move(m_code);
}

}  // namespace crib::exec::jit
