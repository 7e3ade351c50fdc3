// BPF to x86-64: one function per program, laid out as an entry stub, then
// each subprogram (prologue, body, epilogues inline at each exit).
//
// Register assignment (BPF -> x86-64), chosen so helper and kfunc calls need
// no moves: r0 rax, r1 rdi, r2 rsi, r3 rdx, r4 rcx, r5 r8 (the SysV return
// and argument registers); r6 rbx, r7 r13, r8 r14, r9 r15, r10 rbp (SysV
// callee-saved, so helpers keep them). r12 holds the RunState; r9, r10 and
// r11 are scratch within one instruction (division, shifts by register,
// fetch-and-op loops, call targets).
//
// Stack: BPF frames live in the run's own stack (RunState::stack_top), 512
// bytes apart as in the interpreter; a bpf-to-bpf call is a native call with
// r10 moved down around it. Subprograms save the callee-saved registers they
// mention; the entry stub saves all of them, so the main function saves
// none. Every native frame keeps rsp 16-byte aligned at calls.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "base/result.hpp"
#include "exec/jit/jit.hpp"
#include "exec/structure.hpp"

namespace crib::exec::jit {

struct TranslateInput {
    std::span<const isa::Insn> code;
    const Structure& structure;  // what check_structure found in code
    const Imports& imports;
    const Options& options;
    // The value an ld_imm64 of the function starting at this pc loads.
    std::function<const Callable*(uint32_t start)> callable;
};

struct Translation {
    std::vector<uint8_t> code;
    // The entry stub: uint64_t (*)(r1, r2, r3, r4, r5, RunState*); it saves
    // the SysV callee-saved registers and calls RunState::target.
    uint32_t enter = 0;
    struct Subprogram {
        uint32_t start;   // pc
        uint32_t offset;  // of its prologue in code
    };
    std::vector<Subprogram> subprograms;  // subprograms[0] is the main function
};

// Expects code check_structure accepts; errors (unknown imports, unresolved
// ld_imm64) name the instruction.
Result<Translation> translate(const TranslateInput& input);

}  // namespace crib::exec::jit
