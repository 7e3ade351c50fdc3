// Disassembler in the Linux kernel's syntax, as the verifier log and
// `bpftool prog dump xlated` print it (kernel/bpf/disasm.c): `r0 += r1`,
// `if w1 s> w2 goto pc-3`, `r1 = atomic64_fetch_add((u64 *)(r10 -8), r1)`.
#pragma once

#include <functional>
#include <span>
#include <string>

#include "isa/insn.hpp"

namespace crib::isa {

struct DisasmOptions {
    // Name of a helper or kfunc for `call NAME#imm`; an empty answer (or no
    // resolver) prints the kernel's fallback, `unknown` or `kernel-function`.
    std::function<std::string(const Insn& insn, int pc)> call_name;
    // Text of a pseudo lddw's operand (the kernel's cb_imm), e.g.
    // `map[id:3]`; empty answer or none prints `map[fd:3]`-style defaults.
    std::function<std::string(const Insn& insn, int pc)> imm_name;
    // Prefix each instruction with its opcode, `(b7) r0 = 1`, as the
    // verifier log does.
    bool show_opcode = false;
};

// One instruction (an lddw carries its full imm64). An lddw_tail prints as
// an empty string: listings skip it as the kernel does.
std::string disassemble(const Insn& insn, int pc, const DisasmOptions& options = {});

// Source line (or other note) to print above instruction `pc`; empty = none.
using Annotation = std::function<std::string(int pc)>;

// A listing: `pc: text` per instruction, one per line, each annotation on
// its own line as `; note` before its instruction (bpftool's layout).
std::string disassemble(std::span<const Insn> program, const DisasmOptions& options = {},
                        const Annotation& annotate = {});

}  // namespace crib::isa
