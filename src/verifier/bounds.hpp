// Scalar bounds: what the verifier knows of a 64-bit value as four ranges
// (u64, s64, and the low 32 bits as u32, s32) plus a tnum, kept in agreement
// the way the kernel's reg_bounds_sync does. Operations are the abstract
// forms of the ALU instructions; each result holds every concrete result.
#pragma once

#include <cstdint>
#include <limits>
#include <string>

#include "isa/insn.hpp"
#include "verifier/tnum.hpp"

namespace crib::verifier {

struct Scalar {
    Tnum var = Tnum::unknown();
    uint64_t umin = 0, umax = std::numeric_limits<uint64_t>::max();
    int64_t smin = std::numeric_limits<int64_t>::min(), smax = std::numeric_limits<int64_t>::max();
    uint32_t u32min = 0, u32max = std::numeric_limits<uint32_t>::max();
    int32_t s32min = std::numeric_limits<int32_t>::min(),
            s32max = std::numeric_limits<int32_t>::max();

    static Scalar unknown() { return Scalar{}; }
    static Scalar constant(uint64_t v);
    // Unknown value of `bytes` bytes, zero-extended (a narrow load).
    static Scalar unknown_of_size(int bytes);
    static Scalar urange(uint64_t min, uint64_t max);
    static Scalar srange(int64_t min, int64_t max);

    bool is_const() const { return var.is_const(); }
    uint64_t const_value() const { return var.value; }
    bool is_const32() const { return var.subreg().is_const(); }
    // No value satisfies the ranges and tnum together (a dead branch).
    bool empty() const;
    // Every value of `other` is one of this.
    bool includes(const Scalar& other) const;
    bool operator==(const Scalar&) const = default;

    // Bring the five views into agreement (kernel: reg_bounds_sync).
    void sync();
    // The 32-bit result of an ALU32 op becomes the whole value (zero-extended).
    void zext32();
    // Only the low 32-bit views are meaningful, as after a 32-bit comparison
    // on a value whose upper half stays; re-derive 64-bit from tnum.
    void reset64_from32();
    void reset32();  // forget the 32-bit views, re-derive from 64-bit ones
    void reset64();  // forget the 64-bit views, keep 32-bit ones

    std::string to_string() const;
};

// dst = dst <op> src, for ALU operations on scalars of the given width
// (32: the result is zero-extended). Division and modulo by zero follow
// RFC 9669 (0 and dst).
Scalar scalar_alu(isa::Operation op, const Scalar& dst, const Scalar& src, int width);
// Sign-extend the low `bytes` of a value (movsx, ldxs*).
Scalar scalar_sext(const Scalar& value, int bytes, int width);
// Zero-extend the low `bytes` (le16/le32 truncation, narrow loads).
Scalar scalar_truncate(const Scalar& value, int bytes);

// A value holding both `old` and `cur` where each bound `cur` moved past
// `old` jumps to its extreme, so a loop that keeps growing a value reaches
// a fixed point in a few steps (interval widening).
Scalar scalar_widen(const Scalar& old, const Scalar& cur);

// Conditional jumps: the comparison an instruction makes and its negation
// (the fall-through direction).
enum class Cmp : uint8_t { Eq, Ne, Ugt, Uge, Ult, Ule, Sgt, Sge, Slt, Sle, Set, NotSet };
Cmp cmp_of(isa::Operation op);
Cmp negate(Cmp cmp);
// Narrow a and b assuming `a cmp b` holds at `width` bits. False when it
// cannot hold (the direction is dead).
bool refine(Scalar& a, Scalar& b, Cmp cmp, int width);

}  // namespace crib::verifier
