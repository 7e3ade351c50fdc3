// The interpreter: crib's reference semantics for BPF programs.
#pragma once

#include <memory>
#include <optional>
#include <span>

#include "base/log.hpp"
#include "exec/program.hpp"

namespace crib::exec::interp {

struct Options {
    // Log every instruction executed (registers before it) to trace_sink.
    bool trace = false;
    LogSink trace_sink;
    // A helper that ends the program with r0 = 0 when it returns 0 (the
    // conformance suite's "unwind" helper).
    std::optional<int32_t> unwind_helper;
};

// Pre-decodes a program (main function first, subprograms after it, as the
// loader lays them out) and resolves its calls. Fails, naming the
// instruction, on an unknown helper or kfunc, a jump or call out of range,
// or a program that can fall off its end.
Result<std::unique_ptr<Program>> compile(std::span<const isa::Insn> code, const Imports& imports,
                                         Options options = {});

}  // namespace crib::exec::interp
