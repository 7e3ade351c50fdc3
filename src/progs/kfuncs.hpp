// Kfunc sets registered per program type, as register_btf_kfunc_id_set
// does in the kernel: a layer that implements kfuncs (CRIB, iterators...)
// registers a named set for the types that may call it, and the verifier
// and runtime ask which kfunc a program of a type may call by name.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "progs/helpers.hpp"
#include "progs/prog_types.hpp"

namespace crib::progs {

// KF_* flags (include/linux/btf.h).
enum KfuncFlag : uint32_t {
    kKfAcquire = 1u << 0,
    kKfRelease = 1u << 1,
    kKfRetNull = 1u << 2,
    kKfTrustedArgs = 1u << 4,
    kKfSleepable = 1u << 5,
    kKfDestructive = 1u << 6,
    kKfRcu = 1u << 7,
};

struct Kfunc {
    std::string name;
    HelperFn fn = nullptr;
    uint32_t flags = 0;
};

struct KfuncSet {
    std::string name;  // e.g. "bpf_crib_kfuncs"
    std::vector<Kfunc> kfuncs;
};

// Makes `set` callable from programs of `type`; ProgType::Unspec registers it
// for every type (the kernel's common hook). EEXIST when a kfunc of the same
// name is already registered for a type it targets, EINVAL for a set with no
// name or a kfunc with no name.
Result<void> register_kfunc_set(ProgType type, KfuncSet set);

// The kfunc a program of `type` may call by that name, or null. The pointer
// stays valid for the life of the process (sets are never unregistered).
const Kfunc* find_kfunc(ProgType type, std::string_view name);
// Names of the sets registered for `type`, in registration order (common
// sets included).
std::vector<std::string> kfunc_set_names(ProgType type);

// The CRIB program type's own set, registered before any lookup as the seed's
// late_initcall does. Empty until the CRIB layer registers its kfuncs.
inline constexpr std::string_view kCribKfuncSetName = "bpf_crib_kfuncs";

}  // namespace crib::progs
