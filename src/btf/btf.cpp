#include "btf/btf.hpp"

#include <bpf/btf.h>
#include <bpf/libbpf.h>

#include <array>
#include <cerrno>

#include "btf/libbpf_capture.hpp"

namespace crib::btf {
namespace {

// Enough to follow any sane chain; a longer one is a loop in hostile BTF.
constexpr int kMaxChain = 64;

}  // namespace

std::string_view kind_name(Kind kind) {
    static constexpr std::array<std::string_view, 20> kNames{
        "void", "int",     "ptr",      "array",    "struct",   "union", "enum",
        "fwd",  "typedef", "volatile", "const",    "restrict", "func",  "func_proto",
        "var",  "datasec", "float",    "decl_tag", "type_tag", "enum64"};
    auto index = static_cast<size_t>(kind);
    return index < kNames.size() ? kNames[index] : "unknown";
}

std::string_view essential_name(std::string_view name) {
    auto pos = name.rfind("___");
    return pos == std::string_view::npos || pos == 0 ? name : name.substr(0, pos);
}

Result<std::shared_ptr<Btf>> Btf::parse(std::span<const uint8_t> raw) {
    if (raw.empty()) return make_error(EINVAL, "empty BTF");
    LibbpfCapture capture(LibbpfCapture::Levels::WithDebug);
    errno = 0;
    struct ::btf* handle = btf__new(raw.data(), static_cast<uint32_t>(raw.size()));
    if (!handle) return libbpf_error(errno, "invalid BTF");
    return adopt(handle);
}

Result<std::shared_ptr<Btf>> Btf::load_vmlinux() {
    LibbpfCapture capture(LibbpfCapture::Levels::WithDebug);
    errno = 0;
    struct ::btf* handle = btf__load_vmlinux_btf();
    if (!handle) return libbpf_error(errno, "cannot load vmlinux BTF");
    return adopt(handle);
}

Result<std::shared_ptr<Btf>> Btf::load_file(const std::string& path) {
    LibbpfCapture capture(LibbpfCapture::Levels::WithDebug);
    errno = 0;
    struct ::btf* handle = btf__parse(path.c_str(), nullptr);
    if (!handle) return libbpf_error(errno, fmt::format("cannot load BTF from '{}'", path));
    return adopt(handle);
}

std::shared_ptr<Btf> Btf::adopt(struct ::btf* handle) {
    return std::shared_ptr<Btf>(new Btf(handle));
}

Btf::~Btf() {
    btf__free(m_btf);
}

uint32_t Btf::type_count() const {
    return btf__type_cnt(m_btf);
}

const btf_type* Btf::type(TypeId id) const {
    if (id == 0 || !valid(id)) return nullptr;
    return btf__type_by_id(m_btf, id);
}

Kind Btf::kind(TypeId id) const {
    const btf_type* t = type(id);
    return t ? static_cast<Kind>(btf_kind(t)) : Kind::Void;
}

std::string_view Btf::name(TypeId id) const {
    const btf_type* t = type(id);
    return t ? string_at(t->name_off) : std::string_view{};
}

std::string_view Btf::string_at(uint32_t offset) const {
    const char* text = btf__str_by_offset(m_btf, offset);
    return text ? std::string_view(text) : std::string_view{};
}

namespace {

// Follows qualifiers (and typedefs when asked) down to the type they wrap;
// 0 when the chain is longer than any real one.
TypeId skip_wrappers(const Btf& btf, TypeId id, bool typedefs) {
    for (int i = 0; i < kMaxChain; ++i) {
        switch (btf.kind(id)) {
            case Kind::Typedef:
                if (!typedefs) return id;
                [[fallthrough]];
            case Kind::Volatile:
            case Kind::Const:
            case Kind::Restrict:
            case Kind::TypeTag:
                id = btf.type(id)->type;
                break;
            default:
                return id;
        }
    }
    return 0;
}

}  // namespace

TypeId Btf::skip_modifiers(TypeId id) const {
    return skip_wrappers(*this, id, true);
}

TypeId Btf::skip_qualifiers(TypeId id) const {
    return skip_wrappers(*this, id, false);
}

TypeId Btf::target(TypeId id) const {
    switch (kind(id)) {
        case Kind::Ptr:
        case Kind::Typedef:
        case Kind::Volatile:
        case Kind::Const:
        case Kind::Restrict:
        case Kind::TypeTag:
        case Kind::Var:
        case Kind::Func:
        case Kind::DeclTag:
            return type(id)->type;
        default:
            return 0;
    }
}

Result<uint64_t> Btf::size_of(TypeId id) const {
    if (!valid(id)) return make_error(EINVAL, "type id {} out of range", id);
    errno = 0;
    long long size = btf__resolve_size(m_btf, id);
    if (size < 0)
        return libbpf_error(static_cast<int>(size), fmt::format("size of {}", describe(id)));
    return static_cast<uint64_t>(size);
}

std::vector<Member> Btf::members(TypeId id) const {
    std::vector<Member> out;
    const btf_type* t = type(id);
    if (!t || (btf_kind(t) != BTF_KIND_STRUCT && btf_kind(t) != BTF_KIND_UNION)) return out;
    const struct btf_member* m = btf_members(t);
    out.reserve(btf_vlen(t));
    for (uint32_t i = 0; i < btf_vlen(t); ++i)
        out.push_back(Member{string_at(m[i].name_off), m[i].type, btf_member_bit_offset(t, i),
                             btf_member_bitfield_size(t, i)});
    return out;
}

std::vector<EnumValue> Btf::enum_values(TypeId id) const {
    std::vector<EnumValue> out;
    const btf_type* t = type(id);
    if (!t) return out;
    if (btf_is_enum(t)) {
        const struct btf_enum* e = btf_enum(t);
        bool is_signed = btf_kflag(t);
        for (uint32_t i = 0; i < btf_vlen(t); ++i)
            out.push_back({string_at(e[i].name_off),
                           is_signed ? static_cast<int64_t>(e[i].val)
                                     : static_cast<int64_t>(static_cast<uint32_t>(e[i].val))});
    } else if (btf_is_enum64(t)) {
        const struct btf_enum64* e = btf_enum64(t);
        for (uint32_t i = 0; i < btf_vlen(t); ++i)
            out.push_back(
                {string_at(e[i].name_off), static_cast<int64_t>(btf_enum64_value(&e[i]))});
    }
    return out;
}

bool Btf::enum_is_signed(TypeId id) const {
    const btf_type* t = type(id);
    return t && (btf_is_enum(t) || btf_is_enum64(t)) && btf_kflag(t);
}

std::optional<IntInfo> Btf::int_info(TypeId id) const {
    const btf_type* t = type(id);
    if (!t || !btf_is_int(t)) return std::nullopt;
    uint32_t encoding = btf_int_encoding(t);
    return IntInfo{btf_int_bits(t), btf_int_offset(t), (encoding & BTF_INT_SIGNED) != 0,
                   (encoding & BTF_INT_CHAR) != 0, (encoding & BTF_INT_BOOL) != 0};
}

std::optional<ArrayInfo> Btf::array_info(TypeId id) const {
    const btf_type* t = type(id);
    if (!t || !btf_is_array(t)) return std::nullopt;
    const struct btf_array* a = btf_array(t);
    return ArrayInfo{a->type, a->index_type, a->nelems};
}

std::vector<VarSecInfo> Btf::datasec_vars(TypeId id) const {
    std::vector<VarSecInfo> out;
    const btf_type* t = type(id);
    if (!t || !btf_is_datasec(t)) return out;
    const struct btf_var_secinfo* v = btf_var_secinfos(t);
    for (uint32_t i = 0; i < btf_vlen(t); ++i) out.push_back({v[i].type, v[i].offset, v[i].size});
    return out;
}

uint32_t Btf::linkage(TypeId id) const {
    const btf_type* t = type(id);
    if (!t) return 0;
    if (btf_is_var(t)) return btf_var(t)->linkage;
    if (btf_is_func(t)) return btf_vlen(t);
    return 0;
}

std::optional<TypeId> Btf::find(std::string_view name, Kind kind) const {
    for (TypeId id = 1; id < type_count(); ++id)
        if (this->kind(id) == kind && this->name(id) == name) return id;
    return std::nullopt;
}

std::vector<TypeId> Btf::find_by_essential_name(std::string_view essential, Kind kind) const {
    std::vector<TypeId> out;
    for (TypeId id = 1; id < type_count(); ++id)
        if (this->kind(id) == kind && essential_name(name(id)) == essential) out.push_back(id);
    return out;
}

std::string Btf::describe(TypeId id) const {
    std::string suffix;
    for (int depth = 0; depth < kMaxChain; ++depth) {
        if (id == 0) return "void" + suffix;
        if (!valid(id)) return fmt::format("<bad type id {}>", id);
        Kind k = kind(id);
        std::string_view n = name(id);
        switch (k) {
            case Kind::Ptr:
                suffix = " *" + suffix;
                id = target(id);
                continue;
            case Kind::Const:
                suffix = " const" + suffix;
                id = target(id);
                continue;
            case Kind::Volatile:
                suffix = " volatile" + suffix;
                id = target(id);
                continue;
            case Kind::Restrict:
            case Kind::TypeTag:
                id = target(id);
                continue;
            case Kind::Array: {
                auto a = array_info(id);
                suffix = fmt::format("[{}]", a->count) + suffix;
                id = a->element;
                continue;
            }
            case Kind::Struct:
            case Kind::Union:
            case Kind::Enum:
            case Kind::Enum64:
            case Kind::Fwd: {
                std::string_view word = k == Kind::Union    ? "union"
                                        : k == Kind::Struct ? "struct"
                                        : k == Kind::Fwd    ? "fwd"
                                                            : "enum";
                return fmt::format("{} {}", word, n.empty() ? "(anon)" : n) + suffix;
            }
            case Kind::FuncProto:
                return "func_proto" + suffix;
            default:
                return std::string(n.empty() ? kind_name(k) : n) + suffix;
        }
    }
    return "<type loop>";
}

}  // namespace crib::btf
