// Tristate numbers: a 64-bit value where each bit is known 0, known 1 or
// unknown (mask bit set). The kernel's tnum domain, as a small value type;
// the verifier uses it for alignment and bitwise operations that interval
// bounds cannot follow.
#pragma once

#include <cstdint>
#include <string>

namespace crib::verifier {

struct Tnum {
    uint64_t value = 0;  // known-1 bits (never overlaps mask)
    uint64_t mask = ~uint64_t{0};

    static constexpr Tnum constant(uint64_t v) { return Tnum{v, 0}; }
    static constexpr Tnum unknown() { return Tnum{0, ~uint64_t{0}}; }
    // The smallest tnum holding every value in [min, max].
    static Tnum range(uint64_t min, uint64_t max);

    bool is_const() const { return mask == 0; }
    bool is_unknown() const { return mask == ~uint64_t{0}; }
    bool contains(uint64_t v) const { return (v & ~mask) == value; }
    // Every value of `other` is a value of this.
    bool includes(const Tnum& other) const;
    bool operator==(const Tnum&) const = default;

    uint64_t umin() const { return value; }
    uint64_t umax() const { return value | mask; }

    Tnum subreg() const { return cast(4); }
    // Keep the low `bytes` bytes, the rest known zero.
    Tnum cast(int bytes) const;
    // Replace the low 32 bits with `low`'s.
    Tnum with_subreg(const Tnum& low) const;
    // Keep the high 32 bits, low 32 known zero.
    Tnum clear_subreg() const { return Tnum{value & ~0xffffffffull, mask & ~0xffffffffull}; }

    std::string to_string() const;
};

Tnum tnum_add(Tnum a, Tnum b);
Tnum tnum_sub(Tnum a, Tnum b);
Tnum tnum_mul(Tnum a, Tnum b);
Tnum tnum_and(Tnum a, Tnum b);
Tnum tnum_or(Tnum a, Tnum b);
Tnum tnum_xor(Tnum a, Tnum b);
Tnum tnum_neg(Tnum a);
Tnum tnum_lshift(Tnum a, unsigned shift);
Tnum tnum_rshift(Tnum a, unsigned shift);
// Arithmetic shift of the low `width` bits (32 or 64).
Tnum tnum_arshift(Tnum a, unsigned shift, int width);
// Values both may hold; `ok` false when they share none.
Tnum tnum_intersect(Tnum a, Tnum b, bool* ok = nullptr);
// Values either may hold.
Tnum tnum_union(Tnum a, Tnum b);

}  // namespace crib::verifier
