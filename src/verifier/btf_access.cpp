#include "verifier/btf_access.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <optional>
#include <string>

namespace crib::verifier {
namespace {

// Nested structs deeper than this are a malformed BTF (a cycle).
constexpr int kMaxDepth = 32;

// Where a member lives in its struct: the bytes an access may touch.
struct Span {
    int64_t start, end;
    bool contains(int64_t off) const { return start <= off && off < end; }
};

// The bytes of member `m`: its type's size from its offset, or for a
// bitfield the aligned storage unit of its declared type holding it.
Result<Span> member_span(const btf::Btf& types, const btf::Member& m) {
    const int64_t size = static_cast<int64_t>(CRIB_TRY(types.size_of(m.type)));
    if (m.bitfield_size == 0) {
        const int64_t start = m.bit_offset / 8;
        return Span{start, start + size};
    }
    if (size == 0) return Span{0, 0};
    const int64_t start = static_cast<int64_t>(m.bit_offset / 8) / size * size;
    return Span{start, start + size};
}

// The value a whole read of an int member gives when its type says more
// than the load size: _Bool is 0 or 1, an unsigned N-bit int below 2^N.
std::optional<Scalar> int_bound(const btf::Btf& types, btf::TypeId id, int size) {
    auto info = types.int_info(id);
    if (!info || info->is_signed || info->offset != 0) return std::nullopt;
    if (info->is_bool) return Scalar::urange(0, 1);
    if (info->bits < static_cast<uint32_t>(size) * 8)
        return Scalar::urange(0, (uint64_t{1} << info->bits) - 1);
    return std::nullopt;
}

std::string qualified(const std::string& outer, std::string_view member) {
    if (member.empty()) return outer;  // an anonymous struct or union
    return outer.empty() ? std::string(member) : outer + "." + std::string(member);
}

}  // namespace

Scalar loaded_scalar(int size, bool sign_extend) {
    if (!sign_extend || size >= 8) return Scalar::unknown_of_size(size);
    int64_t half = int64_t{1} << (size * 8 - 1);
    return Scalar::srange(-half, half - 1);
}

Result<BtfAccess> btf_struct_access(const btf::Btf& types, btf::TypeId id, int64_t off, int size,
                                    bool write, bool sign_extend) {
    const btf::TypeId outer_id = types.skip_modifiers(id);
    const std::string outer = std::string(types.name(outer_id));
    const int64_t outer_off = off;
    int64_t base = 0;  // where the struct being walked starts in the outer one
    std::string path;  // its member path from the outer one
    for (int depth = 0; depth < kMaxDepth; ++depth) {
        id = types.skip_modifiers(id);
        const btf::Kind kind = types.kind(id);
        if (kind != btf::Kind::Struct && kind != btf::Kind::Union)
            return make_error(EACCES, "Type '{}' is not a struct", types.describe(id));
        const int64_t struct_size = static_cast<int64_t>(CRIB_TRY(types.size_of(id)));
        // Nested structs are entered only at a member holding the access
        // start; an access running out of one is named by its member below.
        if (depth == 0 && (off < 0 || off + size > struct_size))
            return make_error(EACCES, "access beyond struct {} at off {} size {}", outer, outer_off,
                              size);

        // The member holding the whole access; else the first one the
        // access starts in, to say which it runs out of.
        std::optional<btf::Member> holder, started;
        Span span{0, 0};
        for (const btf::Member& m : types.members(id)) {
            Span s = CRIB_TRY(member_span(types, m));
            if (!s.contains(off)) continue;
            if (!started) {
                started = m;
                span = s;
            }
            if (off + size <= s.end) {
                holder = m;
                span = s;
                break;
            }
        }
        if (!started)
            return make_error(EACCES, "struct {} doesn't have field at offset {} (size {})", outer,
                              outer_off, size);
        if (!holder)
            return make_error(EACCES,
                              "access beyond the end of member {} (mend:{}) in struct {} with off "
                              "{} size {}",
                              qualified(path, started->name), base + span.end, outer, outer_off,
                              size);
        const btf::Member& m = *holder;
        std::string name = qualified(path, m.name);
        btf::TypeId type = types.skip_modifiers(m.type);
        btf::Kind member_kind = types.kind(type);
        int64_t inner = off - span.start;
        // Into a struct, or an element of an array of structs: walk on.
        while (m.bitfield_size == 0 && member_kind == btf::Kind::Array) {
            auto array = types.array_info(type);
            btf::TypeId element = types.skip_modifiers(array->element);
            btf::Kind element_kind = types.kind(element);
            if (element_kind != btf::Kind::Struct && element_kind != btf::Kind::Union &&
                element_kind != btf::Kind::Array)
                break;
            const int64_t element_size = static_cast<int64_t>(CRIB_TRY(types.size_of(element)));
            if (element_size == 0) break;
            name += fmt::format("[{}]", inner / element_size);
            span.start += inner / element_size * element_size;
            inner %= element_size;
            type = element;
            member_kind = element_kind;
        }
        if (m.bitfield_size == 0 &&
            (member_kind == btf::Kind::Struct || member_kind == btf::Kind::Union)) {
            base += span.start;
            off -= span.start;
            path = name;
            id = type;
            continue;
        }
        switch (member_kind) {
            case btf::Kind::Int:
            case btf::Kind::Enum:
            case btf::Kind::Enum64:
            case btf::Kind::Float:
            case btf::Kind::Ptr:
            case btf::Kind::Array:  // of scalars
                break;
            default:
                return make_error(EACCES,
                                  "member {} of struct {} is a {}, not data a program reads", name,
                                  outer, btf::kind_name(member_kind));
        }
        if (write && member_kind == btf::Kind::Ptr)
            return make_error(EACCES, "cannot write into pointer member {} of struct {}", name,
                              outer);
        if (!write && !sign_extend && m.bitfield_size == 0 && member_kind == btf::Kind::Int &&
            inner == 0 && span.end - span.start == size)
            if (auto bound = int_bound(types, type, size)) return BtfAccess{*bound, name};
        return BtfAccess{loaded_scalar(size, sign_extend), name};
    }
    return make_error(EACCES, "struct {} nests deeper than {} levels", outer, kMaxDepth);
}

namespace {

// An access through a BTF pointer starts at a known, non-negative offset:
// variable offsets are refused, as the kernel refuses them.
Result<void> check_fixed_offset(const RegState& reg, int regno, int64_t at,
                                std::string_view tname) {
    if (at < 0)
        return make_error(EACCES, "R{} is ptr_{} invalid negative access: off={}", regno, tname,
                          at);
    if (!reg.value.is_const() || reg.value.const_value() != 0)
        return make_error(EACCES, "R{} is ptr_{} invalid variable offset: off={}, var_off={}",
                          regno, tname, reg.off, reg.value.var.to_string());
    return {};
}

}  // namespace

Result<Scalar> check_btf_access(const RegState& reg, int regno, int32_t off, int size, bool write,
                                bool sign_extend, const RegState* stored) {
    if (!reg.btf) return make_error(EACCES, "R{} invalid mem access '{}'", regno, type_name(reg));
    const std::string_view tname = reg.btf->name(reg.btf_id);
    const int64_t at = int64_t{reg.off} + off;
    CRIB_TRY(check_fixed_offset(reg, regno, at, tname));
    if (write && reg.read_only) {
        // The member it would write, for the message (or why there is none).
        BtfAccess target =
            CRIB_TRY(btf_struct_access(*reg.btf, reg.btf_id, at, size, false, false));
        return make_error(EACCES,
                          "only read is supported: R{} is {}, write to member {} of struct {} at "
                          "off {} size {}",
                          regno, type_name(reg), target.member, tname, at, size);
    }
    if (write && stored && stored->is_pointer())
        return make_error(EACCES, "R{} leaks addr into ptr_{}", regno, tname);
    BtfAccess access =
        CRIB_TRY(btf_struct_access(*reg.btf, reg.btf_id, at, size, write, sign_extend));
    return access.value;
}

Result<void> check_btf_range(const RegState& reg, int regno, uint64_t size, bool write) {
    if (!reg.btf || reg.maybe_null)
        return make_error(EACCES, "R{} invalid mem access '{}'", regno, type_name(reg));
    const std::string_view tname = reg.btf->name(reg.btf_id);
    const int64_t at = reg.off;
    CRIB_TRY(check_fixed_offset(reg, regno, at, tname));
    if (write && reg.read_only)
        return make_error(EACCES, "R{} type={} is read-only, the callee writes {} bytes into it",
                          regno, type_name(reg), size);
    const uint64_t struct_size = CRIB_TRY(reg.btf->size_of(reg.btf_id));
    if (static_cast<uint64_t>(at) + size > struct_size)
        return make_error(EACCES, "access beyond struct {} at off {} size {}", tname, at, size);
    return {};
}

}  // namespace crib::verifier
