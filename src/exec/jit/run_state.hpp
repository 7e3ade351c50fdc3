// What JIT code shares with the C++ around it while a program runs: one
// RunState per program a run enters (r12 points at it the whole time), and
// the out-of-line slow paths the code calls for tail calls and callx.
#pragma once

#include <cstddef>
#include <cstdint>

#include "exec/engine_program.hpp"

namespace crib::exec::jit {

class JitProgram;

struct RunState {
    uint64_t unwind_rsp = 0;          // rsp inside the entry stub: unwinding restores it
    const uint8_t* target = nullptr;  // code the entry stub calls
    uint8_t* stack_top = nullptr;     // r10 of the first frame
    const JitProgram* program = nullptr;
    uint64_t regs[6] = {};          // r0..r5, spilled around slow paths
    TailCallChain* tail = nullptr;  // the run's, across the programs it tail-calls through
};

// Field offsets the generated code addresses through r12.
inline constexpr int32_t kStateUnwindRsp = offsetof(RunState, unwind_rsp);
inline constexpr int32_t kStateTarget = offsetof(RunState, target);
inline constexpr int32_t kStateStackTop = offsetof(RunState, stack_top);
inline constexpr int32_t kStateRegs = offsetof(RunState, regs);

// What a slow path hands back in rax:rdx (SysV returns two-word structs in
// registers): the new r0 and whether the run ends now with r0 = 0.
struct SlowResult {
    uint64_t r0;
    uint64_t unwind;
};

// bpf_tail_call(ctx = regs[1], prog_array = regs[2], index = regs[3]).
SlowResult slow_tail_call(RunState* state);
// callx: the helper id is only known at run time; pc names it in the log.
SlowResult slow_callx(RunState* state, int64_t helper_id, uint64_t pc);

}  // namespace crib::exec::jit
