// The x86-64 JIT: compiles a program to machine code with the interpreter's
// semantics (exec/interp is the reference).
//
// Native calls in: Program::run(ctx) runs the main function; entry() and
// every Callable an ld_imm64 of a function yields are plain C calls of up to
// five u64 arguments (Callable::invoke(self, r1..r5)), so C++ code and
// helpers such as bpf_loop call JIT code directly. Native calls out: helpers
// and kfuncs are called with the SysV convention, BPF r1..r5 already in the
// argument registers.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>

#include "base/log.hpp"
#include "exec/program.hpp"

namespace crib::exec::jit {

struct Options {
    // Receives what compile has to say (the code size, the perf map line).
    LogSink log;
    // Appends "ADDR SIZE crib:NAME" to /tmp/perf-PID.map so perf can name
    // the code.
    bool perf_map = false;
    std::string name = "prog";
    // A helper that ends the program with r0 = 0 when it returns 0 (the
    // conformance suite's "unwind" helper).
    std::optional<int32_t> unwind_helper;
};

// Compiles a program (main function first, subprograms after it, as the
// loader lays them out). It refuses what the interpreter's compile refuses,
// in the same words: both run check_structure and resolve_call.
Result<std::unique_ptr<Program>> compile(std::span<const isa::Insn> code, const Imports& imports,
                                         Options options = {});

}  // namespace crib::exec::jit
