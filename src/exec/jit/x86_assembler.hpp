// An x86-64 assembler for the JIT, layered like uBPF's emitters: bytes, then
// prefixes and operand encodings (REX, ModRM, SIB, displacements), then one
// function per instruction form. Opcode bytes are named here and nowhere
// else; the translator speaks only in these functions.
//
// Jumps go to Labels. Emission records where each jump's displacement sits;
// finish() binds them all in one fixup pass, so forward jumps need no
// backpatching by the caller. A jump is emitted short (rel8) or near (rel32)
// as its caller asks; finish() refuses a short jump whose target is too far.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/result.hpp"

namespace crib::exec::jit {

enum class Reg : uint8_t {
    rax,
    rcx,
    rdx,
    rbx,
    rsp,
    rbp,
    rsi,
    rdi,
    r8,
    r9,
    r10,
    r11,
    r12,
    r13,
    r14,
    r15
};

// Operand width of an integer instruction.
enum class Width : uint8_t { W8 = 1, W16 = 2, W32 = 4, W64 = 8 };

// Condition codes, in the order the encodings number them.
enum class Cond : uint8_t {
    Overflow,
    NoOverflow,
    Below,
    AboveOrEqual,
    Equal,
    NotEqual,
    BelowOrEqual,
    Above,
    Sign,
    NoSign,
    Parity,
    NoParity,
    Less,
    GreaterOrEqual,
    LessOrEqual,
    Greater,
};

// The eight "group 1" arithmetic operations, numbered as their encodings
// number them (ModRM reg field of the immediate forms).
enum class AluOp : uint8_t { Add, Or, Adc, Sbb, And, Sub, Xor, Cmp };

// The group 2 shifts and rotates, numbered likewise.
enum class ShiftOp : uint8_t { Rol = 0, Ror = 1, Shl = 4, Shr = 5, Sar = 7 };

// [base + disp]
struct Mem {
    Reg base;
    int32_t disp = 0;
};

struct Label {
    uint32_t id;
};

class Assembler {
public:
    Label new_label();
    // Binds a label to the current position; each label is bound once.
    void bind(Label label);
    // Where a bound label is (-1 while unbound).
    int64_t position(Label label) const { return m_labels[label.id]; }
    size_t size() const { return m_code.size(); }

    // Register and immediate moves. mov with a 64-bit immediate picks the
    // shortest encoding that yields the same register value.
    void mov(Width width, Reg dst, Reg src);
    void mov_imm(Width width, Reg dst, int32_t imm);  // W64: sign-extended
    void mov_imm64(Reg dst, uint64_t imm);
    void movzx(Width from, Reg dst, Reg src);            // from W8 or W16, into 32 bits
    void movsx(Width from, Width to, Reg dst, Reg src);  // from W8/W16/W32
    void lea(Reg dst, Mem mem);

    void alu(AluOp op, Width width, Reg dst, Reg src);
    void alu_imm(AluOp op, Width width, Reg dst, int32_t imm);
    void test(Width width, Reg a, Reg b);
    void test_imm(Width width, Reg a, int32_t imm);
    void imul(Width width, Reg dst, Reg src);
    void imul_imm(Width width, Reg dst, Reg src, int32_t imm);
    void neg(Width width, Reg dst);
    // Unsigned and signed division of rdx:rax (edx:eax) by a register.
    void div(Width width, Reg divisor);
    void idiv(Width width, Reg divisor);
    // Sign-extends rax into rdx (cqo) or eax into edx (cdq).
    void sign_extend_accumulator(Width width);
    void shift_cl(ShiftOp op, Width width, Reg dst);
    void shift_imm(ShiftOp op, Width width, Reg dst, uint8_t count);
    void bswap(Width width, Reg dst);  // W32 or W64

    // Memory. Loads of 8 and 16 bits zero- or sign-extend into 64 bits, as
    // 32-bit loads do with `sign`.
    void load(Width width, Reg dst, Mem src, bool sign = false);
    void store(Width width, Mem dst, Reg src);
    void store_imm(Width width, Mem dst, int32_t imm);  // W64: sign-extended

    // Atomics on memory: `lock` arithmetic, lock xadd, xchg (implicitly
    // locked), lock cmpxchg (compares with rax/eax).
    void lock_alu(AluOp op, Width width, Mem dst, Reg src);
    void lock_xadd(Width width, Mem dst, Reg src);
    void xchg(Width width, Mem dst, Reg src);
    void lock_cmpxchg(Width width, Mem dst, Reg src);

    void push(Reg reg);
    void pop(Reg reg);
    void ret();
    void call(Reg target);
    void call(Label target);
    void jmp(Label target, bool short_form = false);
    void jcc(Cond cond, Label target, bool short_form = false);

    // Resolves every jump and hands back the code. Fails if a label is
    // unbound or a short jump does not reach.
    Result<std::vector<uint8_t>> finish();

private:
    struct Fixup {
        uint32_t label;
        uint32_t at;    // where the displacement is
        uint8_t bytes;  // 1 or 4
    };

    void byte(uint8_t value) { m_code.push_back(value); }
    void imm16(uint16_t value);
    void imm32(uint32_t value);
    void imm64(uint64_t value);
    // A REX prefix when any of its bits is set, or when `byte_regs` names a
    // register whose low byte needs one (spl, bpl, sil, dil).
    void rex(bool w, unsigned reg, unsigned index, unsigned base, bool force = false);
    void modrm(unsigned mod, unsigned reg, unsigned rm);
    // ModRM (and SIB, displacement) for a register-field value and memory.
    void memory_operand(unsigned reg, Mem mem);
    // Prefixes, REX and opcode bytes of a register/register-or-memory form.
    void op_rr(Width width, std::span<const uint8_t> opcode, unsigned reg, Reg rm,
               bool byte_regs = false);
    void op_rm(Width width, std::span<const uint8_t> opcode, unsigned reg, Mem mem,
               bool byte_reg = false);
    void branch(Label target, bool short_form, std::span<const uint8_t> short_op,
                std::span<const uint8_t> near_op);

    std::vector<uint8_t> m_code;
    std::vector<int64_t> m_labels;  // position, or -1 while unbound
    std::vector<Fixup> m_fixups;
};

}  // namespace crib::exec::jit
