// The BPF calling convention as native code sees it: arguments in r1..r5,
// result in r0, so helpers, kfuncs and callbacks are plain C functions of
// five 64-bit arguments that every engine calls the same way.
#pragma once

#include <cstdint>

namespace crib::isa {

// bpf_tail_call's helper id (BPF_FUNC_tail_call): engines implement it
// themselves, since it replaces the running program.
inline constexpr int32_t kHelperTailCall = 12;

using HelperFn = uint64_t (*)(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5);

// A BPF function made callable from native code: the value ld_imm64 of a
// function (src = BPF_PSEUDO_FUNC) yields, which bpf_loop and
// bpf_for_each_map_elem receive, and what struct_ops tables point at.
struct Callable {
    uint64_t (*invoke)(const Callable* self, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
                       uint64_t r5);
};

}  // namespace crib::isa
