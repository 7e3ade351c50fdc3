#include "verifier/tnum.hpp"

#include <bit>

#include <fmt/format.h>

namespace crib::verifier {

Tnum Tnum::range(uint64_t min, uint64_t max) {
    uint64_t chi = min ^ max;
    int bits = chi == 0 ? 0 : 64 - std::countl_zero(chi);
    if (bits > 63) return unknown();
    uint64_t delta = (uint64_t{1} << bits) - 1;
    return Tnum{min & ~delta, delta};
}

bool Tnum::includes(const Tnum& other) const {
    // Every bit known here is known the same way in other.
    if ((other.mask & ~mask) != 0) return false;
    return (other.value & ~mask) == value;
}

Tnum Tnum::cast(int bytes) const {
    if (bytes >= 8) return *this;
    uint64_t keep = (uint64_t{1} << (bytes * 8)) - 1;
    return Tnum{value & keep, mask & keep};
}

Tnum Tnum::with_subreg(const Tnum& low) const {
    Tnum l = low.subreg();
    Tnum h = clear_subreg();
    return Tnum{h.value | l.value, h.mask | l.mask};
}

std::string Tnum::to_string() const {
    return fmt::format("(0x{:x}; 0x{:x})", value, mask);
}

Tnum tnum_add(Tnum a, Tnum b) {
    uint64_t sm = a.mask + b.mask;
    uint64_t sv = a.value + b.value;
    uint64_t sigma = sm + sv;
    uint64_t chi = sigma ^ sv;
    uint64_t mu = chi | a.mask | b.mask;
    return Tnum{sv & ~mu, mu};
}

Tnum tnum_sub(Tnum a, Tnum b) {
    uint64_t dv = a.value - b.value;
    uint64_t alpha = dv + a.mask;
    uint64_t beta = dv - b.mask;
    uint64_t chi = alpha ^ beta;
    uint64_t mu = chi | a.mask | b.mask;
    return Tnum{dv & ~mu, mu};
}

Tnum tnum_and(Tnum a, Tnum b) {
    uint64_t alpha = a.value | a.mask;
    uint64_t beta = b.value | b.mask;
    uint64_t v = a.value & b.value;
    return Tnum{v, alpha & beta & ~v};
}

Tnum tnum_or(Tnum a, Tnum b) {
    uint64_t v = a.value | b.value;
    uint64_t mu = a.mask | b.mask;
    return Tnum{v, mu & ~v};
}

Tnum tnum_xor(Tnum a, Tnum b) {
    uint64_t v = a.value ^ b.value;
    uint64_t mu = a.mask | b.mask;
    return Tnum{v & ~mu, mu};
}

Tnum tnum_neg(Tnum a) {
    return tnum_sub(Tnum::constant(0), a);
}

// Long multiplication over the bits of a: each known-1 bit adds b shifted,
// each unknown bit adds b's possible bits as unknown.
Tnum tnum_mul(Tnum a, Tnum b) {
    Tnum acc_v = Tnum::constant(a.value * b.value);
    Tnum acc_m = Tnum::constant(0);
    while (a.value || a.mask) {
        if (a.value & 1)
            acc_m = tnum_add(acc_m, Tnum{0, b.mask});
        else if (a.mask & 1)
            acc_m = tnum_add(acc_m, Tnum{0, b.value | b.mask});
        a = tnum_rshift(a, 1);
        b = tnum_lshift(b, 1);
    }
    return tnum_add(acc_v, acc_m);
}

Tnum tnum_lshift(Tnum a, unsigned shift) {
    if (shift >= 64) return Tnum::constant(0);
    return Tnum{a.value << shift, a.mask << shift};
}

Tnum tnum_rshift(Tnum a, unsigned shift) {
    if (shift >= 64) return Tnum::constant(0);
    return Tnum{a.value >> shift, a.mask >> shift};
}

Tnum tnum_arshift(Tnum a, unsigned shift, int width) {
    if (width == 32) {
        auto v = static_cast<uint32_t>(static_cast<int32_t>(static_cast<uint32_t>(a.value)) >>
                                       (shift & 31));
        auto m = static_cast<uint32_t>(static_cast<int32_t>(static_cast<uint32_t>(a.mask)) >>
                                       (shift & 31));
        return Tnum{v, m};
    }
    return Tnum{static_cast<uint64_t>(static_cast<int64_t>(a.value) >> (shift & 63)),
                static_cast<uint64_t>(static_cast<int64_t>(a.mask) >> (shift & 63))};
}

Tnum tnum_intersect(Tnum a, Tnum b, bool* ok) {
    uint64_t known_both = ~a.mask & ~b.mask;
    if (ok) *ok = ((a.value ^ b.value) & known_both) == 0;
    uint64_t v = a.value | b.value;
    uint64_t mu = a.mask & b.mask;
    return Tnum{v & ~mu, mu};
}

Tnum tnum_union(Tnum a, Tnum b) {
    uint64_t mu = a.mask | b.mask | (a.value ^ b.value);
    return Tnum{a.value & ~mu, mu};
}

}  // namespace crib::verifier
