#include "progs/kfuncs.hpp"

#include <deque>
#include <mutex>

namespace crib::progs {
namespace {

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
