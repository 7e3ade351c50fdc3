// What compile() refuses, with the messages it gives, and tracing.
#include <string>
#include <vector>

#include "exec/engine_util.hpp"

namespace crib::exec {
namespace {

using namespace testing;

CRIB_ENGINE_SUITE(Compile);

TEST_P(Compile, RefusesAnEmptyProgram) {
    EXPECT_EQ(compile_error({}), "program has no instructions");
}

TEST_P(Compile, RefusesUnknownHelperNamingTheInsn) {
    Imports imports;
    imports.helper = [](int32_t) -> HelperFn { return nullptr; };
    EXPECT_EQ(compile_error(Asm().mov(0, 0).op(Op::call, 0, 0, 0, 77).exit().code, imports),
              "insn 1: call: invalid func unknown#77");
    // No resolver at all: every helper is unknown.
    EXPECT_EQ(compile_error(Asm().op(Op::call, 0, 0, 0, 1).exit().code),
              "insn 0: call: invalid func unknown#1");
}

TEST_P(Compile, TailCallNeedsNoImport) {
    EXPECT_EQ(compile_error(Asm().op(Op::call, 0, 0, 0, kHelperTailCall).exit().code), "compiled");
}

TEST_P(Compile, RefusesUnknownKfunc) {
    EXPECT_EQ(compile_error(Asm().op(Op::call_kfunc, 0, 0, 3, 5).exit().code),
              "insn 0: call_kfunc: unknown kernel function btf_id 5 (module 3)");
}

TEST_P(Compile, RefusesUnresolvedPseudoLddw) {
    for (Op op : {Op::lddw_map_fd, Op::lddw_map_value, Op::lddw_btf_id, Op::lddw_map_idx,
                  Op::lddw_map_idx_value}) {
        auto code = Asm().lddw(1, 3, op).exit().code;
        EXPECT_EQ(compile_error(code),
                  fmt::format("insn 0: {}: ld_imm64 with pseudo source {} must be resolved by "
                              "the runtime before compile",
                              isa::info(op).name, isa::info(op).selector_value));
    }
}

TEST_P(Compile, RefusesJumpsOutOfRange) {
    EXPECT_EQ(compile_error(Asm().op(Op::ja, 0, 0, 5).exit().code),
              "insn 0: jump out of range from insn 0 to 6");
    EXPECT_EQ(compile_error(Asm().op(Op::jeq64_imm, 1, 0, -2, 0).exit().code),
              "insn 0: jump out of range from insn 0 to -1");
    EXPECT_EQ(compile_error(Asm().op(Op::ja32, 0, 0, 0, 1).exit().code),
              "insn 0: jump out of range from insn 0 to 2");
}

TEST_P(Compile, RefusesJumpIntoLddw) {
    auto code = Asm().op(Op::ja, 0, 0, 2).mov(0, 0).lddw(0, 1).exit().code;
    EXPECT_EQ(compile_error(code), "insn 0: jump into the middle of ldimm64 insn 2");
    auto call = Asm().op(Op::call_local, 0, 0, 0, 2).exit().lddw(0, 1).exit().code;
    EXPECT_EQ(compile_error(call), "insn 0: call_local: call into the middle of ldimm64 insn 2");
}

TEST_P(Compile, RefusesJumpsBetweenSubprograms) {
    Asm a;
    a.op(Op::call_local, 0, 0, 0, 2).op(Op::ja, 0, 0, 2).exit().mov(0, 1).exit();
    EXPECT_EQ(compile_error(a.code), "insn 1: jump out of range from insn 1 to 4");
}

TEST_P(Compile, RefusesFallingOffTheEnd) {
    EXPECT_EQ(compile_error(Asm().mov(0, 0).op(Op::add64_imm, 0, 0, 0, 1).code),
              "insn 1: last insn is not an exit or jmp");
    EXPECT_EQ(compile_error(Asm().mov(0, 0).op(Op::jeq64_imm, 0, 0, -2, 0).code),
              "insn 1: last insn is not an exit or jmp");
    // A backward ja is a valid last instruction.
    EXPECT_EQ(compile_error(Asm().mov(0, 0).exit().op(Op::ja, 0, 0, -2).code), "compiled");
    // So is the main function's into a subprogram.
    Asm sub;
    sub.op(Op::call_local, 0, 0, 0, 1).mov(0, 0).exit();
    EXPECT_EQ(compile_error(sub.code), "insn 1: last insn is not an exit or jmp");
}

TEST_P(Compile, RefusesBrokenLddwPairs) {
    EXPECT_EQ(compile_error({isa::make(Op::lddw_tail), isa::make(Op::exit)}),
              "insn 0: lddw_tail without an lddw before it");
    EXPECT_EQ(compile_error({isa::make(Op::lddw, 0), isa::make(Op::exit)}),
              "insn 0: lddw: lddw is missing its second slot");
}

TEST_P(Compile, RefusesFunctionLoadOutOfRange) {
    EXPECT_EQ(compile_error(Asm().lddw(1, 7, Op::lddw_func).exit().code),
              "insn 0: lddw_func: call to invalid destination 8");
}

TEST_P(Compile, RefusesInvalidRegisters) {
    EXPECT_EQ(compile_error(Asm().op(Op::add64_imm, 11, 0, 0, 1).exit().code),
              "insn 0: add64_imm: invalid register r11");
}

// Tracing is the interpreter's alone.
uint64_t run_traced(const std::vector<Insn>& code, interp::Options options) {
    auto program = interp::compile(code, {}, std::move(options));
    EXPECT_TRUE(program) << program.error().to_string();
    return program ? (*program)->run(nullptr) : 0xdeadbeef;
}

TEST(Trace, LogsEveryInstructionWithRegisters) {
    std::vector<std::string> lines;
    interp::Options options;
    options.trace = true;
    options.trace_sink = [&](LogLevel level, std::string_view line) {
        EXPECT_EQ(level, LogLevel::Debug);
        lines.emplace_back(line);
    };
    Asm a;
    a.mov(0, 5).op(Op::call_local, 0, 0, 0, 1).exit().op(Op::add64_imm, 0, 0, 0, 1).exit();
    EXPECT_EQ(run_traced(a.code, options), 6u);
    ASSERT_EQ(lines.size(), 5u);
    EXPECT_TRUE(lines[0].starts_with("   0: mov64_imm          r0=0x0 r1=0x0")) << lines[0];
    EXPECT_TRUE(lines[1].starts_with("   1: call_local         r0=0x5")) << lines[1];
    EXPECT_TRUE(lines[3].starts_with("   4: exit               r0=0x6")) << lines[3];
    EXPECT_TRUE(lines[4].starts_with("   2: exit")) << lines[4];
}

TEST(Trace, SameResultsWithoutSink) {
    interp::Options options;
    options.trace = true;
    EXPECT_EQ(run_traced(Asm().mov(0, 3).exit().code, options), 3u);
}

}  // namespace
}  // namespace crib::exec
