#include "verifier/bounds.hpp"

#include <algorithm>
#include <bit>

#include <fmt/format.h>

namespace crib::verifier {
namespace {

constexpr uint64_t kU64Max = std::numeric_limits<uint64_t>::max();
constexpr int64_t kS64Min = std::numeric_limits<int64_t>::min();
constexpr int64_t kS64Max = std::numeric_limits<int64_t>::max();
constexpr uint32_t kU32Max = std::numeric_limits<uint32_t>::max();

void mark_empty(Scalar& s) {
    s.umin = 1;
    s.umax = 0;
}

void update_from_tnum(Scalar& s) {
    s.umin = std::max(s.umin, s.var.value);
    s.umax = std::min(s.umax, s.var.value | s.var.mask);
    s.smin =
        std::max(s.smin, static_cast<int64_t>(s.var.value | (s.var.mask & (uint64_t{1} << 63))));
    s.smax =
        std::min(s.smax, static_cast<int64_t>(s.var.value | (s.var.mask & ~(uint64_t{1} << 63))));
    Tnum low = s.var.subreg();
    s.u32min = std::max(s.u32min, static_cast<uint32_t>(low.value));
    s.u32max = std::min(s.u32max, static_cast<uint32_t>(low.value | low.mask));
    s.s32min =
        std::max(s.s32min,
                 static_cast<int32_t>(static_cast<uint32_t>(low.value | (low.mask & 0x80000000u))));
    s.s32max =
        std::min(s.s32max,
                 static_cast<int32_t>(static_cast<uint32_t>(low.value | (low.mask & 0x7fffffffu))));
}

// A signed range that does not cross the sign boundary is also an unsigned
// range, and the other way round.
void deduce(Scalar& s) {
    if (static_cast<int32_t>(s.u32min) <= static_cast<int32_t>(s.u32max)) {
        s.s32min = std::max(s.s32min, static_cast<int32_t>(s.u32min));
        s.s32max = std::min(s.s32max, static_cast<int32_t>(s.u32max));
    }
    if (static_cast<uint32_t>(s.s32min) <= static_cast<uint32_t>(s.s32max)) {
        s.u32min = std::max(s.u32min, static_cast<uint32_t>(s.s32min));
        s.u32max = std::min(s.u32max, static_cast<uint32_t>(s.s32max));
    }
    if (static_cast<int64_t>(s.umin) <= static_cast<int64_t>(s.umax)) {
        s.smin = std::max(s.smin, static_cast<int64_t>(s.umin));
        s.smax = std::min(s.smax, static_cast<int64_t>(s.umax));
    }
    if (static_cast<uint64_t>(s.smin) <= static_cast<uint64_t>(s.smax)) {
        s.umin = std::max(s.umin, static_cast<uint64_t>(s.smin));
        s.umax = std::min(s.umax, static_cast<uint64_t>(s.smax));
    }
    // A 64-bit range inside one 4 GiB block bounds the low half...
    auto narrow32 = [&](uint64_t lo, uint64_t hi) {
        if ((lo >> 32) != (hi >> 32)) return;
        s.u32min = std::max(s.u32min, static_cast<uint32_t>(lo));
        s.u32max = std::min(s.u32max, static_cast<uint32_t>(hi));
        if (static_cast<int32_t>(lo) <= static_cast<int32_t>(hi)) {
            s.s32min = std::max(s.s32min, static_cast<int32_t>(lo));
            s.s32max = std::min(s.s32max, static_cast<int32_t>(hi));
        }
    };
    narrow32(s.umin, s.umax);
    narrow32(static_cast<uint64_t>(s.smin), static_cast<uint64_t>(s.smax));
    // ...and the low half's range bounds a value whose high half is fixed.
    if ((s.umin >> 32) == (s.umax >> 32) && s.u32min <= s.u32max) {
        uint64_t high = s.umin & ~uint64_t{kU32Max};
        s.umin = std::max(s.umin, high | s.u32min);
        s.umax = std::min(s.umax, high | s.u32max);
    }
    if ((static_cast<uint64_t>(s.smin) >> 32) == (static_cast<uint64_t>(s.smax) >> 32) &&
        s.u32min <= s.u32max) {
        uint64_t high = static_cast<uint64_t>(s.smin) & ~uint64_t{kU32Max};
        s.smin = std::max(s.smin, static_cast<int64_t>(high | s.u32min));
        s.smax = std::min(s.smax, static_cast<int64_t>(high | s.u32max));
    }
}

void update_tnum(Scalar& s) {
    if (s.umin > s.umax || s.u32min > s.u32max) return;
    bool ok = true;
    s.var = tnum_intersect(s.var, Tnum::range(s.umin, s.umax), &ok);
    if (!ok) return mark_empty(s);
    Tnum low = tnum_intersect(s.var.subreg(), Tnum::range(s.u32min, s.u32max), &ok);
    if (!ok) return mark_empty(s);
    s.var = s.var.with_subreg(low);
}

// Concrete BPF semantics for constant folding (RFC 9669: x/0 = 0, x%0 = x).
uint64_t eval(isa::Operation op, uint64_t a, uint64_t b) {
    using enum isa::Operation;
    switch (op) {
        case Add:
            return a + b;
        case Sub:
            return a - b;
        case Mul:
            return a * b;
        case Div:
            return b ? a / b : 0;
        case Mod:
            return b ? a % b : a;
        case Sdiv: {
            auto x = static_cast<int64_t>(a), y = static_cast<int64_t>(b);
            if (y == 0) return 0;
            if (y == -1) return 0 - a;
            return static_cast<uint64_t>(x / y);
        }
        case Smod: {
            auto x = static_cast<int64_t>(a), y = static_cast<int64_t>(b);
            if (y == 0) return a;
            if (y == -1) return 0;
            return static_cast<uint64_t>(x % y);
        }
        case Or:
            return a | b;
        case And:
            return a & b;
        case Xor:
            return a ^ b;
        case Lsh:
            return a << (b & 63);
        case Rsh:
            return a >> (b & 63);
        case Arsh:
            return static_cast<uint64_t>(static_cast<int64_t>(a) >> (b & 63));
        case Neg:
            return 0 - a;
        case Mov:
            return b;
        default:
            return 0;
    }
}

Scalar from_unsigned(Tnum var, uint64_t umin, uint64_t umax) {
    Scalar s;
    s.var = var;
    s.umin = umin;
    s.umax = umax;
    s.sync();
    return s;
}

Scalar from_signed(Tnum var, int64_t smin, int64_t smax) {
    Scalar s;
    s.var = var;
    s.smin = smin;
    s.smax = smax;
    s.sync();
    return s;
}

Scalar alu64(isa::Operation op, const Scalar& a, const Scalar& b) {
    using enum isa::Operation;
    if (op == Mov) return b;
    if (a.is_const() && (b.is_const() || op == Neg))
        return Scalar::constant(eval(op, a.const_value(), b.const_value()));
    switch (op) {
        case Add: {
            Tnum var = tnum_add(a.var, b.var);
            Scalar s = Scalar::unknown();
            s.var = var;
            uint64_t lo, hi;
            if (!__builtin_add_overflow(a.umin, b.umin, &lo) &&
                !__builtin_add_overflow(a.umax, b.umax, &hi)) {
                s.umin = lo;
                s.umax = hi;
            }
            int64_t slo, shi;
            if (!__builtin_add_overflow(a.smin, b.smin, &slo) &&
                !__builtin_add_overflow(a.smax, b.smax, &shi)) {
                s.smin = slo;
                s.smax = shi;
            }
            s.sync();
            return s;
        }
        case Sub: {
            Scalar s = Scalar::unknown();
            s.var = tnum_sub(a.var, b.var);
            if (a.umin >= b.umax) {
                s.umin = a.umin - b.umax;
                s.umax = a.umax - b.umin;
            }
            int64_t slo, shi;
            if (!__builtin_sub_overflow(a.smin, b.smax, &slo) &&
                !__builtin_sub_overflow(a.smax, b.smin, &shi)) {
                s.smin = slo;
                s.smax = shi;
            }
            s.sync();
            return s;
        }
        case Mul: {
            uint64_t hi;
            if (!__builtin_mul_overflow(a.umax, b.umax, &hi))
                return from_unsigned(tnum_mul(a.var, b.var), a.umin * b.umin, hi);
            return from_unsigned(tnum_mul(a.var, b.var), 0, kU64Max);
        }
        case And:
            return from_unsigned(tnum_and(a.var, b.var), 0, std::min(a.umax, b.umax));
        case Or:
            return from_unsigned(tnum_or(a.var, b.var), std::max(a.umin, b.umin), kU64Max);
        case Xor:
            return from_unsigned(tnum_xor(a.var, b.var), 0, kU64Max);
        case Lsh: {
            if (!b.is_const()) return Scalar::unknown();
            unsigned shift = b.const_value() & 63;
            Tnum var = tnum_lshift(a.var, shift);
            if (shift == 0 || (a.umax >> (64 - shift)) == 0)
                return from_unsigned(var, a.umin << shift, a.umax << shift);
            return from_unsigned(var, 0, kU64Max);
        }
        case Rsh: {
            if (!b.is_const()) return Scalar::urange(0, a.umax);
            unsigned shift = b.const_value() & 63;
            return from_unsigned(tnum_rshift(a.var, shift), a.umin >> shift, a.umax >> shift);
        }
        case Arsh: {
            if (!b.is_const()) {
                if (a.smin >= 0) return Scalar::srange(0, a.smax);
                if (a.smax < 0) return Scalar::srange(a.smin, -1);
                return Scalar::srange(a.smin, a.smax);
            }
            unsigned shift = b.const_value() & 63;
            return from_signed(tnum_arshift(a.var, shift, 64), a.smin >> shift, a.smax >> shift);
        }
        case Div:
            if (b.is_const() && b.const_value() != 0)
                return Scalar::urange(a.umin / b.const_value(), a.umax / b.const_value());
            return Scalar::urange(0, a.umax);
        case Mod:
            if (b.is_const() && b.const_value() != 0) {
                if (a.umax < b.const_value()) return a;
                return Scalar::urange(0, b.const_value() - 1);
            }
            return Scalar::urange(0, a.umax);
        case Neg:
            if (a.smin != kS64Min) return from_signed(tnum_neg(a.var), -a.smax, -a.smin);
            return from_unsigned(tnum_neg(a.var), 0, kU64Max);
        default:
            return Scalar::unknown();
    }
}

Scalar zext(const Scalar& a) {
    Scalar s;
    s.var = a.var.subreg();
    s.umin = a.u32min;
    s.umax = a.u32max;
    s.sync();
    return s;
}

Scalar sext(const Scalar& a) {
    Scalar s;
    Tnum low = a.var.subreg();
    // Sign bit known: extend it through the high half.
    if ((low.mask & 0x80000000u) == 0 && (low.value & 0x80000000u))
        s.var = Tnum{low.value | ~uint64_t{kU32Max}, low.mask};
    else if ((low.mask & 0x80000000u) == 0)
        s.var = low;
    else
        s.var = Tnum{low.value, low.mask | ~uint64_t{kU32Max}};
    s.smin = a.s32min;
    s.smax = a.s32max;
    s.sync();
    return s;
}

}  // namespace

Scalar Scalar::constant(uint64_t v) {
    Scalar s;
    s.var = Tnum::constant(v);
    s.umin = s.umax = v;
    s.smin = s.smax = static_cast<int64_t>(v);
    s.u32min = s.u32max = static_cast<uint32_t>(v);
    s.s32min = s.s32max = static_cast<int32_t>(static_cast<uint32_t>(v));
    return s;
}

Scalar Scalar::unknown_of_size(int bytes) {
    if (bytes >= 8) return unknown();
    return urange(0, (uint64_t{1} << (bytes * 8)) - 1);
}

Scalar Scalar::urange(uint64_t min, uint64_t max) {
    Scalar s;
    s.var = Tnum::range(min, max);
    s.umin = min;
    s.umax = max;
    s.sync();
    return s;
}

Scalar Scalar::srange(int64_t min, int64_t max) {
    Scalar s;
    s.smin = min;
    s.smax = max;
    s.sync();
    return s;
}

bool Scalar::empty() const {
    return umin > umax || smin > smax || u32min > u32max || s32min > s32max ||
           (var.value & var.mask) != 0 || !var.contains(var.value);
}

Scalar scalar_widen(const Scalar& old, const Scalar& cur) {
    auto low = [](auto a, auto b, auto extreme) { return b < a ? extreme : a; };
    auto high = [](auto a, auto b, auto extreme) { return b > a ? extreme : a; };
    Scalar w;
    // Bits from the lowest one that differs upwards become unknown: a
    // counter loses them all, a pointer stepping by 8 keeps its alignment.
    w.var = tnum_union(old.var, cur.var);
    if (w.var.mask) {
        uint64_t lowest = w.var.mask & -w.var.mask;
        w.var.mask |= ~(lowest - 1);
        w.var.value &= ~w.var.mask;
    }
    w.umin = low(old.umin, cur.umin, uint64_t{0});
    w.umax = high(old.umax, cur.umax, std::numeric_limits<uint64_t>::max());
    w.smin = low(old.smin, cur.smin, std::numeric_limits<int64_t>::min());
    w.smax = high(old.smax, cur.smax, std::numeric_limits<int64_t>::max());
    w.u32min = low(old.u32min, cur.u32min, uint32_t{0});
    w.u32max = high(old.u32max, cur.u32max, std::numeric_limits<uint32_t>::max());
    w.s32min = low(old.s32min, cur.s32min, std::numeric_limits<int32_t>::min());
    w.s32max = high(old.s32max, cur.s32max, std::numeric_limits<int32_t>::max());
    w.sync();
    return w;
}

bool Scalar::includes(const Scalar& o) const {
    return umin <= o.umin && o.umax <= umax && smin <= o.smin && o.smax <= smax &&
           u32min <= o.u32min && o.u32max <= u32max && s32min <= o.s32min && o.s32max <= s32max &&
           var.includes(o.var);
}

void Scalar::sync() {
    for (int round = 0; round < 2; ++round) {
        update_from_tnum(*this);
        deduce(*this);
        if (empty()) return mark_empty(*this);
        update_tnum(*this);
        if (empty()) return mark_empty(*this);
    }
    update_from_tnum(*this);
    if (empty()) mark_empty(*this);
}

void Scalar::zext32() {
    var = var.subreg();
    umin = u32min;
    umax = u32max;
    smin = u32min;
    smax = u32max;
    sync();
}

void Scalar::reset32() {
    u32min = 0;
    u32max = kU32Max;
    s32min = std::numeric_limits<int32_t>::min();
    s32max = std::numeric_limits<int32_t>::max();
    sync();
}

void Scalar::reset64() {
    umin = 0;
    umax = kU64Max;
    smin = kS64Min;
    smax = kS64Max;
    sync();
}

void Scalar::reset64_from32() {
    reset64();
}

std::string Scalar::to_string() const {
    if (is_const()) return fmt::format("{}", static_cast<int64_t>(var.value));
    std::string out;
    auto add = [&](std::string_view name, auto value) {
        if (!out.empty()) out += ",";
        out += fmt::format("{}={}", name, value);
    };
    if (smin != kS64Min) add("smin", smin);
    if (smax != kS64Max) add("smax", smax);
    if (umin != 0) add("umin", umin);
    if (umax != kU64Max) add("umax", umax);
    if (s32min != std::numeric_limits<int32_t>::min()) add("smin32", s32min);
    if (s32max != std::numeric_limits<int32_t>::max()) add("smax32", s32max);
    if (u32min != 0) add("umin32", u32min);
    if (u32max != kU32Max) add("umax32", u32max);
    if (!var.is_unknown()) add("var_off", var.to_string());
    return out;
}

Scalar scalar_alu(isa::Operation op, const Scalar& dst, const Scalar& src, int width) {
    if (width == 64) return alu64(op, dst, src);
    using enum isa::Operation;
    // A 32-bit op computes the low halves; work on their 64-bit extensions
    // (signed ones where the op is signed) and keep the low 32 bits.
    bool is_signed = op == Arsh || op == Sdiv || op == Smod;
    Scalar a = is_signed ? sext(dst) : zext(dst);
    Scalar b = is_signed ? sext(src) : zext(src);
    if (op == Lsh || op == Rsh || op == Arsh) {
        if (!src.is_const32()) {
            if (op == Lsh) return Scalar::urange(0, kU32Max);
            if (op == Rsh) return Scalar::urange(0, dst.u32max);
        } else {
            b = Scalar::constant(src.var.value & 31);
        }
    }
    return scalar_truncate(alu64(op, a, b), 4);
}

Scalar scalar_sext(const Scalar& value, int bytes, int width) {
    Scalar result;
    uint64_t sign = uint64_t{1} << (bytes * 8 - 1);
    Scalar low = scalar_truncate(value, bytes);
    if (low.is_const()) {
        uint64_t v = low.const_value();
        result = Scalar::constant((v & sign) ? v | ~((sign << 1) - 1) : v);
    } else if (low.umax < sign) {
        result = low;
    } else {
        result = Scalar::srange(-static_cast<int64_t>(sign), static_cast<int64_t>(sign - 1));
    }
    return width == 32 ? scalar_truncate(result, 4) : result;
}

Scalar scalar_truncate(const Scalar& value, int bytes) {
    if (bytes >= 8) return value;
    uint64_t keep = (uint64_t{1} << (bytes * 8)) - 1;
    Scalar s;
    s.var = value.var.cast(bytes);
    if (value.umax <= keep) {
        s.umin = value.umin;
        s.umax = value.umax;
    } else if ((value.umin & ~keep) == (value.umax & ~keep)) {
        s.umin = value.umin & keep;
        s.umax = value.umax & keep;
    } else {
        s.umin = 0;
        s.umax = keep;
    }
    s.sync();
    return s;
}

Cmp cmp_of(isa::Operation op) {
    using enum isa::Operation;
    switch (op) {
        case Jeq:
            return Cmp::Eq;
        case Jne:
            return Cmp::Ne;
        case Jgt:
            return Cmp::Ugt;
        case Jge:
            return Cmp::Uge;
        case Jlt:
            return Cmp::Ult;
        case Jle:
            return Cmp::Ule;
        case Jsgt:
            return Cmp::Sgt;
        case Jsge:
            return Cmp::Sge;
        case Jslt:
            return Cmp::Slt;
        case Jsle:
            return Cmp::Sle;
        case Jset:
            return Cmp::Set;
        default:
            return Cmp::Eq;
    }
}

Cmp negate(Cmp cmp) {
    switch (cmp) {
        case Cmp::Eq:
            return Cmp::Ne;
        case Cmp::Ne:
            return Cmp::Eq;
        case Cmp::Ugt:
            return Cmp::Ule;
        case Cmp::Uge:
            return Cmp::Ult;
        case Cmp::Ult:
            return Cmp::Uge;
        case Cmp::Ule:
            return Cmp::Ugt;
        case Cmp::Sgt:
            return Cmp::Sle;
        case Cmp::Sge:
            return Cmp::Slt;
        case Cmp::Slt:
            return Cmp::Sge;
        case Cmp::Sle:
            return Cmp::Sgt;
        case Cmp::Set:
            return Cmp::NotSet;
        case Cmp::NotSet:
            return Cmp::Set;
    }
    return Cmp::Eq;
}

namespace {

// One width's view of a scalar's ranges, as 64-bit numbers.
struct View {
    uint64_t umin, umax;
    int64_t smin, smax;
};

View view_of(const Scalar& s, int width) {
    if (width == 64) return {s.umin, s.umax, s.smin, s.smax};
    return {s.u32min, s.u32max, s.s32min, s.s32max};
}

void store_view(Scalar& s, const View& v, int width) {
    if (width == 64) {
        s.umin = v.umin, s.umax = v.umax, s.smin = v.smin, s.smax = v.smax;
    } else {
        s.u32min = static_cast<uint32_t>(v.umin), s.u32max = static_cast<uint32_t>(v.umax);
        s.s32min = static_cast<int32_t>(v.smin), s.s32max = static_cast<int32_t>(v.smax);
    }
}

bool refine_views(View& a, View& b, Cmp cmp, int width) {
    const uint64_t umax_all = width == 64 ? kU64Max : kU32Max;
    const int64_t smin_all = width == 64 ? kS64Min : std::numeric_limits<int32_t>::min();
    const int64_t smax_all = width == 64 ? kS64Max : std::numeric_limits<int32_t>::max();
    switch (cmp) {
        case Cmp::Eq:
            a.umin = b.umin = std::max(a.umin, b.umin);
            a.umax = b.umax = std::min(a.umax, b.umax);
            a.smin = b.smin = std::max(a.smin, b.smin);
            a.smax = b.smax = std::min(a.smax, b.smax);
            return a.umin <= a.umax && a.smin <= a.smax;
        case Cmp::Ne: {
            auto shave = [&](View& x, const View& c) {
                if (c.umin != c.umax) return true;
                if (x.umin == x.umax && x.umin == c.umin) return false;
                if (x.umin == c.umin) x.umin++;
                if (x.umax == c.umin) x.umax--;
                if (x.smin == c.smin) x.smin++;
                if (x.smax == c.smin) x.smax--;
                return true;
            };
            return shave(a, b) && shave(b, a);
        }
        case Cmp::Ult:
            if (b.umax == 0 || a.umin == umax_all) return false;
            a.umax = std::min(a.umax, b.umax - 1);
            b.umin = std::max(b.umin, a.umin + 1);
            return a.umin <= a.umax && b.umin <= b.umax;
        case Cmp::Ule:
            a.umax = std::min(a.umax, b.umax);
            b.umin = std::max(b.umin, a.umin);
            return a.umin <= a.umax && b.umin <= b.umax;
        case Cmp::Slt:
            if (b.smax == smin_all || a.smin == smax_all) return false;
            a.smax = std::min(a.smax, b.smax - 1);
            b.smin = std::max(b.smin, a.smin + 1);
            return a.smin <= a.smax && b.smin <= b.smax;
        case Cmp::Sle:
            a.smax = std::min(a.smax, b.smax);
            b.smin = std::max(b.smin, a.smin);
            return a.smin <= a.smax && b.smin <= b.smax;
        case Cmp::Ugt:
            return refine_views(b, a, Cmp::Ult, width);
        case Cmp::Uge:
            return refine_views(b, a, Cmp::Ule, width);
        case Cmp::Sgt:
            return refine_views(b, a, Cmp::Slt, width);
        case Cmp::Sge:
            return refine_views(b, a, Cmp::Sle, width);
        case Cmp::Set:
        case Cmp::NotSet:
            return true;
    }
    return true;
}

}  // namespace

bool refine(Scalar& a, Scalar& b, Cmp cmp, int width) {
    const uint64_t width_mask = width == 64 ? kU64Max : kU32Max;
    auto bits = [&](const Scalar& s) { return width == 64 ? s.var : s.var.subreg(); };
    auto set_bits = [&](Scalar& s, Tnum t) { s.var = width == 64 ? t : s.var.with_subreg(t); };
    if (cmp == Cmp::Set || cmp == Cmp::NotSet) {
        // Only a constant mask teaches anything; still detect dead directions.
        for (int side = 0; side < 2; ++side) {
            Scalar& x = side ? b : a;
            Scalar& c = side ? a : b;
            Tnum cb = bits(c);
            if (!cb.is_const()) continue;
            uint64_t m = cb.value & width_mask;
            Tnum xb = bits(x);
            if (cmp == Cmp::Set) {
                if (((xb.value | xb.mask) & m) == 0) return false;
                if (std::popcount(m) == 1) set_bits(x, Tnum{xb.value | m, xb.mask & ~m});
            } else {
                if (xb.value & m) return false;
                set_bits(x, Tnum{xb.value & ~m, xb.mask & ~m});
            }
            x.sync();
            return !x.empty();
        }
        return true;
    }
    View va = view_of(a, width), vb = view_of(b, width);
    if (!refine_views(va, vb, cmp, width)) return false;
    store_view(a, va, width);
    store_view(b, vb, width);
    if (cmp == Cmp::Eq) {
        bool ok = true;
        Tnum t = tnum_intersect(bits(a), bits(b), &ok);
        if (!ok) return false;
        set_bits(a, t);
        set_bits(b, t);
    }
    a.sync();
    b.sync();
    return !a.empty() && !b.empty();
}

}  // namespace crib::verifier
