#include "progs/kfuncs.hpp"

#include <algorithm>
#include <deque>
#include <mutex>

namespace crib::progs {
namespace {

bool is_struct(const btf::Btf& types, btf::TypeId id) {
    if (id == 0 || !types.valid(id)) return false;
    btf::Kind kind = types.kind(types.skip_modifiers(id));
    return kind == btf::Kind::Struct || kind == btf::Kind::Union;
}

Result<btf::TypeId> find_struct(const btf::Btf& types, std::string_view name) {
    auto id = types.find(name, btf::Kind::Struct);
    if (!id) return make_error(ENOENT, "BTF has no struct {}", name);
    return *id;
}

// A proto's types all come from one BTF, which it keeps alive.
Result<void> use_btf(KfuncProto& proto, const btf::Btf& types, std::string_view name) {
    if (proto.btf && proto.btf.get() != &types)
        return make_error(EINVAL, "struct {} is from another BTF than the proto's", name);
    proto.btf = types.shared_from_this();
    return {};
}

// The BTF types a proto names must be structs of its BTF, and its
// ret_size the returned struct's size: the verifier trusts both.
Result<void> check_btf_types(const Kfunc& kf) {
    const KfuncProto& proto = kf.proto;
    const bool typed =
        proto.ret_type != 0 || std::any_of(proto.arg_types.begin(), proto.arg_types.end(),
                                           [](btf::TypeId id) { return id != 0; });
    if (!typed) return {};
    if (!proto.btf)
        return make_error(EINVAL, "kfunc {}: BTF type ids without the BTF they belong to", kf.name);
    if (proto.ret_type != 0) {
        if (proto.ret.kind != RetKind::PtrToMem || !is_struct(*proto.btf, proto.ret_type))
            return make_error(EINVAL, "kfunc {}: return type id {} is not a struct pointer",
                              kf.name, proto.ret_type);
        uint64_t size = CRIB_TRY(proto.btf->size_of(proto.ret_type));
        if (size != proto.ret_size)
            return make_error(EINVAL, "kfunc {}: returns {} of {} bytes but ret_size is {}",
                              kf.name, proto.btf->describe(proto.ret_type), size, proto.ret_size);
    }
    for (size_t arg = 0; arg < proto.arg_types.size(); ++arg) {
        if (proto.arg_types[arg] == 0) continue;
        if (proto.args[arg].kind != ArgKind::PtrToMem ||
            !is_struct(*proto.btf, proto.arg_types[arg]))
            return make_error(EINVAL, "kfunc {}: arg#{} type id {} is not a struct pointer",
                              kf.name, arg, proto.arg_types[arg]);
    }
    return {};
}

struct Registered {
    ProgType type;  // Unspec: every type
    KfuncSet set;
};

class Registry {
public:
    Registry() { m_sets.push_back({ProgType::Crib, KfuncSet{std::string(kCribKfuncSetName), {}}}); }

    Result<void> add(ProgType type, KfuncSet set) {
        if (set.name.empty()) return make_error(EINVAL, "kfunc set: no name");
        std::lock_guard guard(m_lock);
        for (const auto& kf : set.kfuncs) {
            if (kf.name.empty())
                return make_error(EINVAL, "kfunc set '{}': a kfunc has no name", set.name);
            if (auto typed = check_btf_types(kf); !typed)
                return make_error(EINVAL, "kfunc set '{}': {}", set.name, typed.error().message());
            for (const auto& other : m_sets) {
                if (!overlaps(type, other.type)) continue;
                for (const auto& existing : other.set.kfuncs)
                    if (existing.name == kf.name)
                        return make_error(EEXIST, "kfunc set '{}': '{}' already registered by '{}'",
                                          set.name, kf.name, other.set.name);
            }
        }
        m_sets.push_back({type, std::move(set)});
        return {};
    }

    const Kfunc* find(ProgType type, std::string_view name) const {
        std::lock_guard guard(m_lock);
        for (const auto& r : m_sets) {
            if (!applies(r.type, type)) continue;
            for (const auto& kf : r.set.kfuncs)
                if (kf.name == name) return &kf;
        }
        return nullptr;
    }

    std::vector<std::string> names(ProgType type) const {
        std::lock_guard guard(m_lock);
        std::vector<std::string> out;
        for (const auto& r : m_sets)
            if (applies(r.type, type)) out.push_back(r.set.name);
        return out;
    }

private:
    static bool applies(ProgType registered, ProgType asked) {
        return registered == ProgType::Unspec || registered == asked;
    }
    static bool overlaps(ProgType a, ProgType b) {
        return a == ProgType::Unspec || b == ProgType::Unspec || a == b;
    }

    mutable std::mutex m_lock;
    // A deque, so a Kfunc handed out stays put as sets are added.
    std::deque<Registered> m_sets;
};

Registry& registry() {
    static Registry instance;
    return instance;
}

}  // namespace

Result<void> set_ret_struct(KfuncProto& proto, const btf::Btf& types, std::string_view name) {
    btf::TypeId id = CRIB_TRY(find_struct(types, name));
    CRIB_TRY(use_btf(proto, types, name));
    proto.ret_size = static_cast<uint32_t>(CRIB_TRY(types.size_of(id)));
    proto.ret.kind = RetKind::PtrToMem;
    proto.ret_type = id;
    return {};
}

Result<void> set_arg_struct(KfuncProto& proto, int arg, const btf::Btf& types,
                            std::string_view name) {
    if (arg < 0 || arg >= static_cast<int>(proto.args.size()))
        return make_error(EINVAL, "no arg#{} to type as struct {}", arg, name);
    btf::TypeId id = CRIB_TRY(find_struct(types, name));
    CRIB_TRY(use_btf(proto, types, name));
    proto.arg_types[arg] = id;
    return {};
}

Result<void> register_kfunc_set(ProgType type, KfuncSet set) {
    return registry().add(type, std::move(set));
}

const Kfunc* find_kfunc(ProgType type, std::string_view name) {
    return registry().find(type, name);
}

std::vector<std::string> kfunc_set_names(ProgType type) {
    return registry().names(type);
}

}  // namespace crib::progs
