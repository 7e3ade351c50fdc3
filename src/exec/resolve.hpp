// What a program's calls and 64-bit loads resolve to, with the words both
// engines refuse them in.
#pragma once

#include <cstddef>
#include <cstdint>

#include "base/log.hpp"
#include "base/result.hpp"
#include "exec/program.hpp"

namespace crib::exec {

// The function a helper call (other than kHelperTailCall) or a call_kfunc
// names; an id the imports do not know is an error.
Result<HelperFn> resolve_call(const isa::Insn& insn, const Imports& imports);

// callx names its helper only at run time. An unknown id is reported to
// `log`, naming the instruction, and gives null: the program stops with 0.
[[gnu::cold]] HelperFn resolve_callx(const Imports& imports, int32_t helper_id, size_t pc,
                                     const LogSink& log);

// An ld_imm64 of a map or BTF id the runtime should have rewritten to a
// plain value before compile.
Error unresolved_lddw(const isa::Insn& insn);

}  // namespace crib::exec
