// What an execution engine (interpreter or JIT) produces and what it needs
// from the layers around it. Engines know nothing of program types or
// objects: the runtime resolves those into Imports first.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "base/result.hpp"
#include "isa/abi.hpp"
#include "isa/insn.hpp"

namespace crib::exec {

using isa::Callable;
using isa::HelperFn;

using isa::kHelperTailCall;
inline constexpr int kMaxTailCalls = 33;  // MAX_TAIL_CALL_CNT
inline constexpr int kMaxCallDepth = 8;   // MAX_CALL_FRAMES

// What the program calls, resolved by the runtime. A null function means the
// id is unknown: the engine refuses the program, naming the instruction.
struct Imports {
    std::function<HelperFn(int32_t helper_id)> helper;
    std::function<HelperFn(int32_t btf_id, int16_t module)> kfunc;
};

class Program {
public:
    virtual ~Program() = default;
    // Runs the main function with r1 = ctx and returns r0.
    virtual uint64_t run(const void* ctx) const = 0;
    // The main function as a Callable (arguments r1..r5).
    virtual const Callable* entry() const = 0;
};

// A prog_array slot holds a Program; bpf_tail_call jumps to it.
const Program* tail_call_target(void* prog_array, uint64_t index);

}  // namespace crib::exec
