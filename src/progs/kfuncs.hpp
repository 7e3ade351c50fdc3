// Kfunc sets registered per program type, as register_btf_kfunc_id_set
// does in the kernel: a layer that implements kfuncs (CRIB, iterators...)
// registers a named set for the types that may call it, and the verifier
// and runtime ask which kfunc a program of a type may call by name.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "btf/btf.hpp"
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
    kKfIterNew = 1u << 8,       // open-coded iterator: constructor
    kKfIterNext = 1u << 9,      // step: returns the next element or NULL
    kKfIterDestroy = 1u << 10,  // destructor: must run before exit
};

// A kfunc's prototype as data, read by the verifier as it reads helper
// protos (the kernel derives the same facts from the kfunc's BTF).
// Arguments: Anything (a scalar); PtrToMem followed by ConstSize (the
// kernel's `buf, buf__sz` pairs: stack, map value, ringbuf record or
// kfunc-returned object of that size; plain means the kfunc reads and may
// write it, kReadOnly that it only reads (read-only memory allowed), kUninit
// that it only writes (uninitialised stack allowed)); PtrToMem with no size
// after it (an object a kfunc returned, passed whole at offset 0: the
// kernel's PTR_TO_BTF_ID argument, of struct arg_types[i] when that is set;
// the one a KF_RELEASE kfunc releases); PtrToCtx; PtrToIter (the iterator
// object on the stack; arg 0 of every KF_ITER_* kfunc). Returns: Integer,
// Void, or PtrToMem: with ret_type, a pointer to that struct of `btf` (the
// kernel's PTR_TO_BTF_ID, whose loads the verifier checks member by member),
// read-only unless ret_writable; without, memory of ret_size bytes. Either
// is maybe-NULL with kRetMaybeNull or KF_RET_NULL, a reference to release
// with KF_ACQUIRE.
struct KfuncProto {
    RetSpec ret;
    uint32_t ret_size = 0;  // with ret_type: the struct's size (set_ret_struct)
    std::array<ArgSpec, 5> args{};
    // Iterator kfuncs: the iterator's name ("crib_vma" for struct
    // bpf_iter_crib_vma) and the bytes of its object on the stack.
    std::string_view iter;
    uint32_t iter_size = 0;
    // The BTF ret_type and arg_types are ids of; the proto keeps it alive.
    std::shared_ptr<const btf::Btf> btf;
    btf::TypeId ret_type = 0;
    bool ret_writable = false;
    std::array<btf::TypeId, 5> arg_types{};
};

// Makes `proto` return a pointer to `struct <name>` of `types` (PtrToMem,
// ret_type, ret_size). ENOENT naming the struct when `types` has none.
Result<void> set_ret_struct(KfuncProto& proto, const btf::Btf& types, std::string_view name);
// Makes object argument `arg` (PtrToMem with no size) one to `struct <name>`.
Result<void> set_arg_struct(KfuncProto& proto, int arg, const btf::Btf& types,
                            std::string_view name);

struct Kfunc {
    std::string name;
    HelperFn fn = nullptr;
    uint32_t flags = 0;
    KfuncProto proto;
};

struct KfuncSet {
    std::string name;  // e.g. "bpf_crib_kfuncs"
    std::vector<Kfunc> kfuncs;
};

// Makes `set` callable from programs of `type`; ProgType::Unspec registers it
// for every type (the kernel's common hook). EEXIST when a kfunc of the same
// name is already registered for a type it targets, EINVAL for a set with no
// name, a kfunc with no name, or a BTF-typed return or argument whose type
// is not a struct of the proto's BTF (or whose ret_size is not its size).
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
