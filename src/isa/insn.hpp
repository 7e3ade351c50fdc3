// Decoded BPF instructions. The rows of insn.def become the Op enum and the
// kOps table; code outside src/isa/ reads these fields, never opcode bits.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "isa/encoding.hpp"

namespace crib::isa {

enum class Op : uint8_t {
#define CRIB_INSN(name, ...) name,
#include "isa/insn.def"
#undef CRIB_INSN
};

inline constexpr size_t kOpCount = 0
#define CRIB_INSN(...) +1
#include "isa/insn.def"
#undef CRIB_INSN
    ;

enum class Kind : uint8_t { Alu, Endian, Jump, Load, Store, Atomic, Lddw, LddwTail, Call, Exit };

enum class Operation : uint8_t {
    None,
    // Alu
    Add,
    Sub,
    Mul,
    Div,
    Sdiv,
    Or,
    And,
    Lsh,
    Rsh,
    Neg,
    Mod,
    Smod,
    Xor,
    Mov,
    Movsx,
    Arsh,
    // Endian
    ToLe,
    ToBe,
    Swap,
    // Jump
    Ja,
    Jeq,
    Jgt,
    Jge,
    Jset,
    Jne,
    Jsgt,
    Jsge,
    Jlt,
    Jle,
    Jslt,
    Jsle,
    // Load / Store
    Load,
    LoadSx,
    Store,
    StoreReg,
    // Atomic
    AtomicAdd,
    AtomicOr,
    AtomicAnd,
    AtomicXor,
    FetchAdd,
    FetchOr,
    FetchAnd,
    FetchXor,
    Xchg,
    Cmpxchg,
    // Lddw: what the 64-bit immediate means (the src pseudo field)
    Imm64,
    MapFd,
    MapValue,
    BtfId,
    Func,
    MapIdx,
    MapIdxValue,
    // Call
    Helper,
    Local,
    Kfunc,
    Indirect,
    Exit,
};

// Which field selects between rows that share an opcode.
enum class Selector : uint8_t { None, Off, Imm, Src };

// Fields an instruction may use (bit set).
enum Field : uint8_t { Dst = 1, Src = 2, Off = 4, Imm = 8 };

struct OpInfo {
    std::string_view name;  // identifier, e.g. "add64_imm"
    std::string_view text;  // conformance-dialect mnemonic, e.g. "add"
    uint8_t opcode;
    Selector selector;
    int32_t selector_value;
    Kind kind;
    Operation operation;
    uint8_t width;   // 32 or 64
    uint8_t size;    // bytes: memory access, movsx source, swap width
    uint8_t fields;  // Field bits that may be non-zero

    bool uses(Field field) const { return (fields & field) != 0; }
    // Reads a register operand in src (as opposed to an immediate).
    bool source_is_reg() const { return uses(Field::Src); }
};

inline constexpr std::array<OpInfo, kOpCount> kOps{{
#define CRIB_INSN(name, text, opcode, sel, selv, kind, op, width, size, fields) \
    OpInfo{#name,                                                               \
           text,                                                                \
           static_cast<uint8_t>(opcode),                                        \
           Selector::sel,                                                       \
           static_cast<int32_t>(selv),                                          \
           Kind::kind,                                                          \
           Operation::op,                                                       \
           width,                                                               \
           size,                                                                \
           static_cast<uint8_t>(fields)},
#include "isa/insn.def"
#undef CRIB_INSN
}};

constexpr const OpInfo& info(Op op) {
    return kOps[static_cast<size_t>(op)];
}

inline constexpr int kRegisterCount = 11;  // r0..r10
inline constexpr int kFramePointer = 10;
inline constexpr int kStackSize = 512;

// One decoded instruction. Indexes into a decoded program match the raw
// program's slots, so jump offsets keep their meaning; an lddw occupies two
// slots (the second is Op::lddw_tail) and carries the full value in imm64.
struct Insn {
    Op op;
    uint8_t dst = 0;
    uint8_t src = 0;
    int16_t off = 0;
    int32_t imm = 0;
    uint64_t imm64 = 0;  // lddw only: (uint32)imm | next.imm << 32

    const OpInfo& info() const { return isa::info(op); }
};

// Decode raw 8-byte slots. Refuses unknown opcodes, non-zero unused fields,
// registers above r10 and a truncated lddw, naming the slot.
Result<std::vector<Insn>> decode(std::span<const enc::RawInsn> raw);
Result<std::vector<Insn>> decode_bytes(std::span<const uint8_t> bytes);

// Encode back to wire format; one Insn per slot (lddw and its tail both).
enc::RawInsn encode(const Insn& insn);
std::vector<enc::RawInsn> encode(std::span<const Insn> program);

// Build an instruction, filling the selector field from the table.
Insn make(Op op, uint8_t dst = 0, uint8_t src = 0, int16_t off = 0, int32_t imm = 0);

}  // namespace crib::isa
