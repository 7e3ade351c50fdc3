// Small builders for engine tests: programs from isa::make rows, compiled
// and run on the engine a parameterised test names, so every case runs on
// the interpreter (the reference) and on the JIT.
#pragma once

#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "exec/interp/interpreter.hpp"
#include "exec/jit/jit.hpp"
#include "isa/insn.hpp"

namespace crib::exec::testing {

using isa::Insn;
using isa::Op;

struct Asm {
    std::vector<Insn> code;

    Asm& op(Op op, uint8_t dst = 0, uint8_t src = 0, int16_t off = 0, int32_t imm = 0) {
        code.push_back(isa::make(op, dst, src, off, imm));
        return *this;
    }
    Asm& lddw(uint8_t dst, uint64_t value, Op op = Op::lddw) {
        Insn first = isa::make(op, dst, 0, 0, static_cast<int32_t>(value));
        first.imm64 = value;
        code.push_back(first);
        code.push_back(isa::make(Op::lddw_tail, 0, 0, 0, static_cast<int32_t>(value >> 32)));
        return *this;
    }
    Asm& mov(uint8_t dst, int32_t imm) { return op(Op::mov64_imm, dst, 0, 0, imm); }
    Asm& exit() { return op(Op::exit); }
    Asm& append(const Asm& other) {
        code.insert(code.end(), other.code.begin(), other.code.end());
        return *this;
    }
    size_t size() const { return code.size(); }
};

enum class Engine { Interp, Jit };

inline std::string engine_name(Engine engine) {
    return engine == Engine::Interp ? "interp" : "jit";
}

// What both engines' options have in common.
struct RunOptions {
    LogSink log;  // the interpreter's trace_sink, the JIT's log
    std::optional<int32_t> unwind_helper;
};

inline Result<std::unique_ptr<Program>> compile_on(Engine engine, std::span<const Insn> code,
                                                   const Imports& imports,
                                                   const RunOptions& options) {
    if (engine == Engine::Interp) {
        interp::Options interp_options;
        interp_options.trace_sink = options.log;
        interp_options.unwind_helper = options.unwind_helper;
        return interp::compile(code, imports, std::move(interp_options));
    }
    jit::Options jit_options;
    jit_options.log = options.log;
    jit_options.unwind_helper = options.unwind_helper;
    return jit::compile(code, imports, std::move(jit_options));
}

class EngineTest : public ::testing::TestWithParam<Engine> {
protected:
    Engine engine() const { return GetParam(); }

    std::unique_ptr<Program> build(const std::vector<Insn>& code, const Imports& imports = {},
                                   const RunOptions& options = {}) const {
        auto program = compile_on(engine(), code, imports, options);
        EXPECT_TRUE(program) << program.error().to_string();
        return program ? std::move(program).value() : nullptr;
    }

    uint64_t run(const std::vector<Insn>& code, const void* ctx = nullptr,
                 const Imports& imports = {}, const RunOptions& options = {}) const {
        auto program = build(code, imports, options);
        return program ? program->run(ctx) : 0xdeadbeef;
    }

    std::string compile_error(const std::vector<Insn>& code, const Imports& imports = {},
                              const RunOptions& options = {}) const {
        auto program = compile_on(engine(), code, imports, options);
        return program ? std::string("compiled") : program.error().to_string();
    }
};

}  // namespace crib::exec::testing

// Declares a test suite whose TEST_Ps run once per engine.
#define CRIB_ENGINE_SUITE(Suite)                                                      \
    class Suite : public ::crib::exec::testing::EngineTest {};                        \
    INSTANTIATE_TEST_SUITE_P(Engines, Suite,                                          \
                             ::testing::Values(::crib::exec::testing::Engine::Interp, \
                                               ::crib::exec::testing::Engine::Jit),   \
                             [](const auto& info) { return engine_name(info.param); })
