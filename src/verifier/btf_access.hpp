// Accesses through BTF-typed pointers (PTR_TO_BTF_ID): the struct's BTF
// says which bytes a program may load and what a load gives, as the
// kernel's btf_struct_access / btf_struct_walk decide it.
//
// The rules, and why:
// - The pointer's offset must be constant and the access inside the struct:
//   the kernel refuses variable offsets on these pointers, and an object a
//   kfunc hands out has no size beyond its type.
// - An access lies inside one member: a scalar (int, enum, float, pointer)
//   or, through nested structs and arrays of structs, one of theirs. It may
//   read part of a member but not run into the next one or into padding:
//   padding holds no declared value, and a load spanning two members would
//   type as neither. An array of scalars is one member (the kernel lets
//   programs use such arrays as scratch space), so a load may cover
//   several of its elements. A bitfield is read through the storage unit
//   of its declared type that holds it.
// - A load gives a scalar bounded by the load size (1, 2 and 4-byte loads
//   zero-extend, or sign-extend for BPF_MEMSX), and by the member's type
//   when it reads a whole _Bool or narrow int. A pointer member loads as
//   its address, a plain scalar: crib runs programs without the kernel's
//   exception-table loads, so it cannot let them follow a pointer it did
//   not hand out (crib's own types keep addresses in __u64 members).
// - Writes are refused unless the pointer is writable (its kfunc proto
//   says so); then they must store a scalar into a scalar member.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.hpp"
#include "btf/btf.hpp"
#include "verifier/reg_state.hpp"

namespace crib::verifier {

// The value an N-byte load gives: zero-extended, or sign-extended (BPF_MEMSX).
Scalar loaded_scalar(int size, bool sign_extend);

// What an access inside a struct reaches: the value a load gives (a store
// needs the same checks and ignores it) and the member, as a path
// ("items[1].value").
struct BtfAccess {
    Scalar value;
    std::string member;
};

// `size` bytes at byte `off` of struct `id`; EACCES naming the struct and
// member when the rules above refuse it.
Result<BtfAccess> btf_struct_access(const btf::Btf& types, btf::TypeId id, int64_t off, int size,
                                    bool write, bool sign_extend);

// A load or store of `size` bytes at reg+off, reg being register `regno`, a
// non-NULL BtfId; `stored` is what a store writes. Checks in the kernel's
// order (negative offset, variable offset, write permission, the walk).
Result<Scalar> check_btf_access(const RegState& reg, int regno, int32_t off, int size, bool write,
                                bool sign_extend, const RegState* stored);

// A helper or kfunc reading (or, on a writable pointer, writing) `size`
// bytes from reg: the whole range must lie in the struct. Such callees
// copy bytes, typing none of them, so member boundaries do not matter.
Result<void> check_btf_range(const RegState& reg, int regno, uint64_t size, bool write);

}  // namespace crib::verifier
