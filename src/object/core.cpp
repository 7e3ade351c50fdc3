// CO-RE: rewrite the offsets, sizes and existence checks clang recorded
// against the object's own types so they hold for a target BTF (the
// running kernel's, or one the caller gives). Candidates are target types
// of the same kind whose name matches once "___flavor" suffixes are
// dropped; every candidate that matches must agree on the answer.
#include <charconv>
#include <map>

#include "object/state.hpp"

namespace crib::object {
namespace {

enum CoreKind : uint32_t {
    kFieldByteOffset = 0,
    kFieldByteSize = 1,
    kFieldExists = 2,
    kFieldSigned = 3,
    kFieldLshiftU64 = 4,
    kFieldRshiftU64 = 5,
    kTypeIdLocal = 6,
    kTypeIdTarget = 7,
    kTypeExists = 8,
    kTypeSize = 9,
    kEnumvalExists = 10,
    kEnumvalValue = 11,
    kTypeMatches = 12,
};

constexpr size_t kMaxAccess = 64;

bool is_field_kind(uint32_t kind) {
    return kind <= kFieldRshiftU64;
}
bool is_enum_kind(uint32_t kind) {
    return kind == kEnumvalExists || kind == kEnumvalValue;
}
bool is_existence(uint32_t kind) {
    return kind == kFieldExists || kind == kTypeExists || kind == kEnumvalExists ||
           kind == kTypeMatches;
}

bool is_composite(btf::Kind kind) {
    return kind == btf::Kind::Struct || kind == btf::Kind::Union;
}
bool is_enum(btf::Kind kind) {
    return kind == btf::Kind::Enum || kind == btf::Kind::Enum64;
}

Result<std::vector<uint32_t>> parse_access(std::string_view text) {
    std::vector<uint32_t> out;
    while (!text.empty()) {
        auto colon = text.find(':');
        std::string_view part = text.substr(0, colon);
        uint32_t value = 0;
        auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), value);
        if (ec != std::errc() || end != part.data() + part.size() || part.empty())
            return make_error(EINVAL, "bad CO-RE access string '{}'", text);
        out.push_back(value);
        if (out.size() > kMaxAccess) return make_error(E2BIG, "CO-RE access string is too long");
        if (colon == std::string_view::npos) break;
        text.remove_prefix(colon + 1);
    }
    if (out.empty()) return make_error(EINVAL, "empty CO-RE access string");
    return out;
}

// Where a field access ends up in one BTF.
struct Field {
    btf::TypeId type = 0;  // the field's own type
    uint64_t bit_offset = 0;
    uint32_t bitfield_size = 0;
};

// A step of a local access path: an array index or a named member.
struct Step {
    bool member;
    uint32_t index;
    std::string_view name;
};

Result<uint64_t> byte_size(const btf::Btf& btf, btf::TypeId id) {
    return btf.size_of(id);
}

// Walk the local access path, recording names for matching in the target.
Result<Field> walk_local(const btf::Btf& btf, btf::TypeId root, const std::vector<uint32_t>& access,
                         std::vector<Step>& steps) {
    Field field{root, access[0] * CRIB_TRY(byte_size(btf, root)) * 8, 0};
    steps.push_back({false, access[0], {}});
    for (size_t i = 1; i < access.size(); ++i) {
        btf::TypeId container = btf.skip_modifiers(field.type);
        btf::Kind kind = btf.kind(container);
        if (is_composite(kind)) {
            auto members = btf.members(container);
            if (access[i] >= members.size())
                return make_error(EINVAL, "member index {} out of range for {}", access[i],
                                  btf.describe(container));
            const btf::Member& m = members[access[i]];
            field = {m.type, field.bit_offset + m.bit_offset, m.bitfield_size};
            steps.push_back({true, access[i], m.name});
        } else if (auto array = btf.array_info(container)) {
            field = {array->element,
                     field.bit_offset +
                         uint64_t{access[i]} * CRIB_TRY(byte_size(btf, array->element)) * 8,
                     0};
            steps.push_back({false, access[i], {}});
        } else {
            return make_error(EINVAL, "access {} into {}, which is neither struct, union nor array",
                              i, btf.describe(container));
        }
    }
    return field;
}

// Find `name` in a target struct/union, looking inside anonymous members.
bool find_member(const btf::Btf& btf, btf::TypeId container, std::string_view name, Field& field,
                 int depth = 0) {
    if (depth > 32) return false;
    for (const btf::Member& m : btf.members(container)) {
        if (m.name == name) {
            field = {m.type, field.bit_offset + m.bit_offset, m.bitfield_size};
            return true;
        }
        btf::TypeId inner = btf.skip_modifiers(m.type);
        if (m.name.empty() && is_composite(btf.kind(inner))) {
            Field nested{0, field.bit_offset + m.bit_offset, 0};
            if (find_member(btf, inner, name, nested, depth + 1)) {
                field = nested;
                return true;
            }
        }
    }
    return false;
}

// Kinds that can stand in for each other when a field's type moved.
bool fields_compatible(const btf::Btf& local, btf::TypeId l, const btf::Btf& target, btf::TypeId t,
                       int depth = 0) {
    l = local.skip_modifiers(l);
    t = target.skip_modifiers(t);
    btf::Kind lk = local.kind(l), tk = target.kind(t);
    if (is_composite(lk) && is_composite(tk)) return true;
    if (is_enum(lk) && is_enum(tk)) return true;
    if (lk != tk) return false;
    switch (lk) {
        case btf::Kind::Int: {
            auto li = local.int_info(l), ti = target.int_info(t);
            return li->offset == 0 && ti->offset == 0;
        }
        case btf::Kind::Array:
            return depth < 8 && fields_compatible(local, local.array_info(l)->element, target,
                                                  target.array_info(t)->element, depth + 1);
        default:
            return true;
    }
}

std::optional<Field> match_target(const btf::Btf& local, const Field& local_field,
                                  const std::vector<Step>& steps, const btf::Btf& target,
                                  btf::TypeId candidate) {
    auto root_size = target.size_of(candidate);
    if (!root_size) return std::nullopt;
    Field field{candidate, uint64_t{steps[0].index} * *root_size * 8, 0};
    for (size_t i = 1; i < steps.size(); ++i) {
        btf::TypeId container = target.skip_modifiers(field.type);
        if (steps[i].member) {
            if (steps[i].name.empty()) continue;  // anonymous: its members are found by name
            if (!is_composite(target.kind(container))) return std::nullopt;
            if (!find_member(target, container, steps[i].name, field)) return std::nullopt;
        } else {
            auto array = target.array_info(container);
            if (!array) return std::nullopt;
            if (array->count != 0 && steps[i].index >= array->count) return std::nullopt;
            auto size = target.size_of(array->element);
            if (!size) return std::nullopt;
            field = {array->element, field.bit_offset + uint64_t{steps[i].index} * *size * 8, 0};
        }
    }
    if (!fields_compatible(local, local_field.type, target, field.type)) return std::nullopt;
    return field;
}

struct FieldValues {
    uint64_t value;
    uint32_t byte_size;
};

Result<FieldValues> field_value(const btf::Btf& btf, const Field& field, uint32_t kind) {
    uint32_t size = static_cast<uint32_t>(CRIB_TRY(btf.size_of(field.type)));
    uint64_t byte_off = field.bit_offset / 8;
    uint32_t byte_sz = size;
    if (field.bitfield_size) {
        // The smallest naturally aligned load of the field's storage size
        // (or larger) that covers every bit of it.
        if (byte_sz == 0) return make_error(EINVAL, "bitfield of zero-sized type");
        byte_off = field.bit_offset / 8 / byte_sz * byte_sz;
        while (field.bit_offset + field.bitfield_size - byte_off * 8 > byte_sz * 8ull) {
            if (byte_sz >= 8) return make_error(EINVAL, "bitfield does not fit an 8-byte load");
            byte_sz *= 2;
            byte_off = field.bit_offset / 8 / byte_sz * byte_sz;
        }
    } else if (field.bit_offset % 8) {
        return make_error(EINVAL, "field at bit {} is not byte aligned", field.bit_offset);
    }
    uint32_t bits = field.bitfield_size ? field.bitfield_size : byte_sz * 8;
    switch (kind) {
        case kFieldByteOffset:
            return FieldValues{byte_off, byte_sz};
        case kFieldByteSize:
            return FieldValues{byte_sz, byte_sz};
        case kFieldExists:
            return FieldValues{1, byte_sz};
        case kFieldSigned: {
            btf::TypeId t = btf.skip_modifiers(field.type);
            bool is_signed = false;
            if (auto info = btf.int_info(t))
                is_signed = info->is_signed;
            else if (is_enum(btf.kind(t)))
                is_signed = btf.enum_is_signed(t);
            return FieldValues{is_signed ? 1u : 0u, byte_sz};
        }
        case kFieldLshiftU64: {
            uint64_t shift =
                field.bitfield_size ? 64 - (field.bit_offset + bits - byte_off * 8) : 64 - bits;
            return FieldValues{shift, byte_sz};
        }
        case kFieldRshiftU64:
            return FieldValues{64 - bits, byte_sz};
    }
    return make_error(EINVAL, "unknown field relocation kind {}", kind);
}

std::optional<isa::Op> load_of_size(uint32_t size) {
    switch (size) {
        case 1:
            return isa::Op::ldxb;
        case 2:
            return isa::Op::ldxh;
        case 4:
            return isa::Op::ldxw;
        case 8:
            return isa::Op::ldxdw;
    }
    return std::nullopt;
}

class CoreRelocator {
public:
    CoreRelocator(const btf::Btf& local, const btf::Btf& target)
        : m_local(local), m_target(target) {}

    Result<CoreRelo> apply(const ExtCoreRelo& rec, std::vector<isa::Insn>& insns, size_t at) {
        if (!m_local.valid(rec.type_id) || rec.type_id == 0)
            return make_error(EINVAL, "CO-RE relocation names bad type id {}", rec.type_id);
        std::string_view access_text = m_local.string_at(rec.access_str_off);
        auto access = CRIB_TRY(parse_access(access_text));
        CoreRelo out{at, rec.kind, m_local.describe(rec.type_id), std::string(access_text), 0,
                     0,  false};
        auto fail = [&](std::string message) {
            return make_error(EINVAL, "CO-RE {} of {} access '{}': {}", kind_label(rec.kind),
                              out.type_name, out.access, message);
        };
        std::optional<uint64_t> target_value;
        uint32_t local_size = 0, target_size = 0;
        if (is_field_kind(rec.kind)) {
            std::vector<Step> steps;
            auto local_field = walk_local(m_local, rec.type_id, access, steps);
            if (!local_field) return fail(local_field.error().message());
            auto local = field_value(m_local, *local_field, rec.kind);
            if (!local) return fail(local.error().message());
            out.local_value = local->value;
            local_size = local->byte_size;
            for (btf::TypeId candidate : candidates(rec.type_id)) {
                auto field = match_target(m_local, *local_field, steps, m_target, candidate);
                if (!field) continue;
                auto value = field_value(m_target, *field, rec.kind);
                if (!value) continue;
                if (target_value && *target_value != value->value)
                    return fail(
                        fmt::format("candidates disagree ({} vs {})", *target_value, value->value));
                target_value = value->value;
                target_size = value->byte_size;
            }
        } else if (is_enum_kind(rec.kind)) {
            auto values = m_local.enum_values(m_local.skip_modifiers(rec.type_id));
            if (access[0] >= values.size()) return fail("enumerator index out of range");
            std::string_view name = btf::essential_name(values[access[0]].name);
            out.local_value =
                rec.kind == kEnumvalExists ? 1 : static_cast<uint64_t>(values[access[0]].value);
            for (btf::TypeId candidate : candidates(rec.type_id))
                for (const auto& value : m_target.enum_values(candidate))
                    if (btf::essential_name(value.name) == name) {
                        uint64_t v =
                            rec.kind == kEnumvalExists ? 1 : static_cast<uint64_t>(value.value);
                        if (target_value && *target_value != v) return fail("candidates disagree");
                        target_value = v;
                    }
        } else if (rec.kind <= kTypeMatches) {
            out.local_value = rec.kind == kTypeSize ? CRIB_TRY(m_local.size_of(rec.type_id))
                              : rec.kind == kTypeIdLocal || rec.kind == kTypeIdTarget ? rec.type_id
                                                                                      : 1;
            if (rec.kind == kTypeIdLocal) {
                target_value = rec.type_id;
            } else {
                for (btf::TypeId candidate : candidates(rec.type_id)) {
                    uint64_t v = rec.kind == kTypeIdTarget ? candidate
                                 : rec.kind == kTypeSize   ? CRIB_TRY(m_target.size_of(candidate))
                                                           : 1;
                    if (target_value && *target_value != v && rec.kind != kTypeIdTarget)
                        return fail("candidates disagree");
                    if (!target_value) target_value = v;
                }
            }
        } else {
            return fail("unknown relocation kind");
        }
        if (!target_value && is_existence(rec.kind)) target_value = 0;
        if (!target_value) {
            out.poisoned = true;
            poison(insns, at);
            return out;
        }
        out.target_value = *target_value;
        auto patched =
            patch(insns, at, rec.kind, out.local_value, *target_value, local_size, target_size);
        if (!patched) return fail(patched.error().message());
        return out;
    }

private:
    static std::string_view kind_label(uint32_t kind) {
        static constexpr std::string_view kLabels[] = {
            "byte_off",       "byte_sz",       "field_exists",   "signed",      "lshift_u64",
            "rshift_u64",     "local_type_id", "target_type_id", "type_exists", "type_size",
            "enumval_exists", "enumval_value", "type_matches"};
        return kind < std::size(kLabels) ? kLabels[kind] : "unknown";
    }

    const std::vector<btf::TypeId>& candidates(btf::TypeId local_id) {
        auto it = m_candidates.find(local_id);
        if (it != m_candidates.end()) return it->second;
        std::vector<btf::TypeId> found;
        btf::Kind kind = m_local.kind(local_id);
        std::string_view name = btf::essential_name(m_local.name(local_id));
        if (!name.empty()) {
            found = m_target.find_by_essential_name(name, kind);
            if (is_enum(kind)) {
                auto other = m_target.find_by_essential_name(
                    name, kind == btf::Kind::Enum ? btf::Kind::Enum64 : btf::Kind::Enum);
                found.insert(found.end(), other.begin(), other.end());
            }
        }
        return m_candidates.emplace(local_id, std::move(found)).first->second;
    }

    static void poison(std::vector<isa::Insn>& insns, size_t at) {
        bool wide = insns[at].info().kind == isa::Kind::Lddw;
        insns[at] = isa::make(isa::Op::call, 0, 0, 0, kPoisonHelper);
        // Keep the slot count so jumps around it stay valid.
        if (wide && at + 1 < insns.size())
            insns[at + 1] = isa::make(isa::Op::call, 0, 0, 0, kPoisonHelper);
    }

    static Result<void> patch(std::vector<isa::Insn>& insns, size_t at, uint32_t kind,
                              uint64_t local, uint64_t target, uint32_t local_size,
                              uint32_t target_size) {
        isa::Insn& insn = insns[at];
        const isa::OpInfo& info = insn.info();
        switch (info.kind) {
            case isa::Kind::Alu:
                if (info.source_is_reg() || !info.uses(isa::Field::Imm)) break;
                if (static_cast<uint32_t>(insn.imm) != static_cast<uint32_t>(local))
                    return make_error(EINVAL, "insn {} imm {} is not the local value {}", info.name,
                                      insn.imm, local);
                if (target > INT32_MAX)
                    return make_error(ERANGE, "value {} does not fit imm", target);
                insn.imm = static_cast<int32_t>(target);
                return {};
            case isa::Kind::Load:
            case isa::Kind::Store:
            case isa::Kind::Atomic:
                if (kind != kFieldByteOffset) break;
                if (static_cast<uint64_t>(insn.off) != local)
                    return make_error(EINVAL, "insn {} off {} is not the local offset {}",
                                      info.name, insn.off, local);
                if (target > INT16_MAX)
                    return make_error(ERANGE, "offset {} does not fit off", target);
                insn.off = static_cast<int16_t>(target);
                // A plain load of the whole field follows the field's new size.
                if (info.operation == isa::Operation::Load && info.size == local_size &&
                    target_size != local_size)
                    if (auto op = load_of_size(target_size)) insn.op = *op;
                return {};
            case isa::Kind::Lddw:
                if (insn.op != isa::Op::lddw) break;
                if (insn.imm64 != local)
                    return make_error(EINVAL, "lddw value {} is not the local value {}", insn.imm64,
                                      local);
                insn.imm64 = target;
                insn.imm = static_cast<int32_t>(static_cast<uint32_t>(target));
                insns[at + 1].imm = static_cast<int32_t>(static_cast<uint32_t>(target >> 32));
                return {};
            default:
                break;
        }
        return make_error(EINVAL, "cannot relocate {}", info.name);
    }

    const btf::Btf& m_local;
    const btf::Btf& m_target;
    std::map<btf::TypeId, std::vector<btf::TypeId>> m_candidates;
};

}  // namespace

Result<void> apply_core_relocations(LoaderState& state) {
    bool any = false;
    for (const CodeSection& code : state.code)
        any = any || (code.core_relos && !code.core_relos->empty());
    if (!any) return {};
    std::shared_ptr<const btf::Btf> target = state.options.core_target;
    if (!target && state.options.core_against_self) target = state.btf;
    if (!target) {
        auto vmlinux = btf::Btf::load_vmlinux();
        if (!vmlinux)
            return make_error(vmlinux.error().code(), "CO-RE needs a target BTF: {}",
                              vmlinux.error().message());
        target = std::move(*vmlinux);
    }
    CoreRelocator relocator(*state.btf, *target);
    for (CodeSection& code : state.code) {
        if (!code.core_relos) continue;
        for (size_t i = 0; i < code.core_relos->size(); ++i) {
            const ExtCoreRelo& rec = (*code.core_relos)[i];
            size_t at = rec.insn_off / 8;
            auto located = [&](Error error) {
                error.loc().relocation = static_cast<int64_t>(i);
                return std::move(section_error(*code.section, std::move(error))
                                     .at_insn(static_cast<int64_t>(at)));
            };
            if (rec.insn_off % 8 || at >= code.insns.size() ||
                code.insns[at].op == isa::Op::lddw_tail)
                return located(make_error(
                    EINVAL, "CO-RE relocation at byte {} is not on an instruction", rec.insn_off));
            auto applied = relocator.apply(rec, code.insns, at);
            if (!applied) return located(std::move(applied).error());
            code.core[at] = std::move(*applied);
        }
    }
    return {};
}

}  // namespace crib::object
