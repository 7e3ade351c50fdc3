// Small builders for interpreter tests: programs from isa::make rows, run
// with a context, and a record of the ops each table-driven test covers.
#pragma once

#include <gtest/gtest.h>

#include <initializer_list>
#include <vector>

#include "exec/interp/interpreter.hpp"
#include "isa/insn.hpp"

namespace crib::exec::interp::testing {

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
    size_t size() const { return code.size(); }
};

inline std::unique_ptr<Program> build(const std::vector<Insn>& code, const Imports& imports = {},
                                      Options options = {}) {
    auto program = compile(code, imports, std::move(options));
    EXPECT_TRUE(program) << program.error().to_string();
    return program ? std::move(program).value() : nullptr;
}

inline uint64_t run(const std::vector<Insn>& code, const void* ctx = nullptr,
                    const Imports& imports = {}, Options options = {}) {
    auto program = build(code, imports, std::move(options));
    return program ? program->run(ctx) : 0xdeadbeef;
}

inline std::string compile_error(const std::vector<Insn>& code, const Imports& imports = {},
                                 Options options = {}) {
    auto program = compile(code, imports, std::move(options));
    return program ? std::string("compiled") : program.error().to_string();
}

}  // namespace crib::exec::interp::testing
