// Assembler for the bpf_conformance dialect (`add32 %r0, 1`,
// `ldxw %r0, [%r1+4]`, `lock fetch add [%r10-8], %r1`, labels `L1:`).
// Mnemonics come from the Text column of insn.def; this file only knows
// operand syntax, a few aliases and the error wording of the upstream
// assembler, so the suite's negative tests can match our messages.
#pragma once

#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "isa/insn.hpp"

namespace crib::isa {

// Assembles a whole program. An lddw yields two Insns (lddw and lddw_tail)
// so indexes match wire slots, as decode() produces them. Errors read
// `line N: <upstream message>`, e.g. `line 1: Invalid register: %r50`.
Result<std::vector<Insn>> assemble(std::string_view source);

// The message of an assembler error without its `line N: ` prefix, for
// comparing with a conformance file's `-- error` text.
std::string_view strip_line_prefix(std::string_view message);

}  // namespace crib::isa
