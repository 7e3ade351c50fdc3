// Raw encoding of BPF instructions (RFC 9669). Only src/isa/ touches opcode
// bits; everything else works on decoded isa::Insn.
#pragma once

#include <cstdint>

namespace crib::isa::enc {

// The 8-byte wire format, little-endian host.
struct RawInsn {
    uint8_t opcode;
    uint8_t dst : 4;
    uint8_t src : 4;
    int16_t off;
    int32_t imm;
};
static_assert(sizeof(RawInsn) == 8);

// Instruction classes (low 3 bits).
inline constexpr uint8_t kLd = 0x00, kLdx = 0x01, kSt = 0x02, kStx = 0x03, kAlu = 0x04, kJmp = 0x05,
                         kJmp32 = 0x06, kAlu64 = 0x07;
// Operand source (bit 3).
inline constexpr uint8_t kSrcImm = 0x00, kSrcReg = 0x08;
// Arithmetic operations (high 4 bits).
inline constexpr uint8_t kAdd = 0x00, kSub = 0x10, kMul = 0x20, kDiv = 0x30, kOr = 0x40,
                         kAnd = 0x50, kLsh = 0x60, kRsh = 0x70, kNeg = 0x80, kMod = 0x90,
                         kXor = 0xa0, kMov = 0xb0, kArsh = 0xc0, kEnd = 0xd0;
// Byte-swap direction for kEnd in the ALU class (the source bit).
inline constexpr uint8_t kToLe = 0x00, kToBe = 0x08;
// Jump operations (high 4 bits).
inline constexpr uint8_t kJa = 0x00, kJeq = 0x10, kJgt = 0x20, kJge = 0x30, kJset = 0x40,
                         kJne = 0x50, kJsgt = 0x60, kJsge = 0x70, kCall = 0x80, kExit = 0x90,
                         kJlt = 0xa0, kJle = 0xb0, kJslt = 0xc0, kJsle = 0xd0;
// Memory access size (bits 3-4) and mode (bits 5-7).
inline constexpr uint8_t kW = 0x00, kH = 0x08, kB = 0x10, kDW = 0x18;
inline constexpr uint8_t kModeImm = 0x00, kModeMem = 0x60, kModeMemSx = 0x80, kModeAtomic = 0xc0;
// Atomic operation codes, carried in imm.
inline constexpr int32_t kFetch = 0x01, kAtomicXchg = 0xe0 | kFetch, kAtomicCmpxchg = 0xf0 | kFetch;
// Pseudo sources of ld_imm64 and call (the src field).
inline constexpr uint8_t kPseudoMapFd = 1, kPseudoMapValue = 2, kPseudoBtfId = 3, kPseudoFunc = 4,
                         kPseudoMapIdx = 5, kPseudoMapIdxValue = 6;
inline constexpr uint8_t kPseudoCall = 1, kPseudoKfuncCall = 2;

}  // namespace crib::isa::enc
