// Variable-offset context reads of syscall programs (crib allows them where
// the kernel does not; bpf/demo.bpf.c scans its text so). They are sound
// because every offset the variable part may take is checked and the
// largest end recorded, and BPF_PROG_RUN refuses a ctx_size_in below it:
// these tests run the programs to show both halves.
#include <gtest/gtest.h>

#include <cstring>

#include "isa/assembler.hpp"
#include "runtime/runtime.hpp"
#include "verifier/verifier.hpp"

namespace crib::verifier {
namespace {

// Reads the u32 at ctx + (ctx[0] & mask): a variable offset in [0, mask].
std::string reader(uint32_t mask) {
    return fmt::format(
        "ldxw %r2, [%r1+0]\n"
        "and %r2, {:#x}\n"
        "add %r1, %r2\n"
        "ldxw %r0, [%r1+0]\n"
        "exit\n",
        mask);
}

Result<VerifyResult> verify_syscall(const std::string& source) {
    auto insns = CRIB_TRY(isa::assemble(source));
    const progs::ProgTypeInfo* type = progs::prog_type(progs::ProgType::Syscall);
    VerifyInput input{insns, *type, {}, nullptr};
    return verify(input);
}

Result<std::unique_ptr<runtime::LoadedObject>> load_syscall(const std::string& source) {
    object::Object object;
    object.name = "ctx_var_offset";
    object.license = "GPL";
    object::Program program;
    program.name = "read_at";
    program.section = "syscall";
    program.insns = CRIB_TRY(isa::assemble(source));
    program.main_size = program.insns.size();
    object.programs.push_back(std::move(program));
    return runtime::load(object);
}

TEST(CtxVarOffset, LargestOffsetRecorded) {
    auto verified = verify_syscall(reader(0xfc));
    ASSERT_TRUE(verified.ok()) << verified.error().to_string();
    EXPECT_EQ(verified->max_ctx_offset, 0xfcu + 4);
}

TEST(CtxVarOffset, PastTheContextBoundRefused) {
    // Offsets 0x8000..0x17ffc: each is checked, and those from 65535 up
    // are outside any context.
    auto past = verify_syscall(
        "ldxw %r2, [%r1+0]\n"
        "and %r2, 0xfffc\n"
        "add %r2, 0x8000\n"
        "add %r1, %r2\n"
        "ldxw %r0, [%r1+0]\n"
        "exit\n");
    ASSERT_FALSE(past.ok());
    EXPECT_EQ(past.error().code(), EACCES);
    EXPECT_NE(past.error().message().find("invalid bpf_context access off=65536 size=4"),
              std::string::npos)
        << past.error().message();

    // A range wider than any context.
    auto wide = verify_syscall(reader(0x1fffc));
    ASSERT_FALSE(wide.ok());
    EXPECT_NE(wide.error().message().find("invalid bpf_context access"), std::string::npos)
        << wide.error().message();

    // An unbounded offset: no mask at all.
    auto unbounded = verify_syscall(
        "ldxw %r2, [%r1+0]\n"
        "add %r1, %r2\n"
        "ldxw %r0, [%r1+0]\n"
        "exit\n");
    ASSERT_FALSE(unbounded.ok());
    EXPECT_EQ(unbounded.error().code(), EACCES);
}

// A read that may end at byte 65536 verifies (each start is a valid
// context offset, as the kernel's is_valid_access has it) but can never
// run: no context is that large.
TEST(CtxVarOffset, LastWordNeedsAContextTooLargeToPass) {
    auto loaded = load_syscall(reader(0xfffc));
    ASSERT_TRUE(loaded.ok()) << loaded.error().to_string();
    const runtime::Prog* prog = (*loaded)->find_program("read_at");
    ASSERT_NE(prog, nullptr);
    EXPECT_EQ(prog->max_ctx_offset(), 0x10000u);
    std::vector<uint8_t> ctx(0xffff, 0);
    progs::TestRunAttr attr;
    attr.ctx_in = ctx;
    auto ran = prog->test_run(attr);
    ASSERT_FALSE(ran.ok());
    EXPECT_EQ(ran.error().code(), EINVAL);
}

TEST(CtxVarOffset, RunNeedsTheWholeRange) {
    auto loaded = load_syscall(reader(0xfc));
    ASSERT_TRUE(loaded.ok()) << loaded.error().to_string();
    const runtime::Prog* prog = (*loaded)->find_program("read_at");
    ASSERT_NE(prog, nullptr);
    EXPECT_EQ(prog->max_ctx_offset(), 0x100u);

    std::vector<uint8_t> ctx(0x100, 0);
    ctx[0] = 0xfc;  // read the last word
    const uint32_t last = 0xc0ffee;
    std::memcpy(ctx.data() + 0xfc, &last, sizeof last);
    progs::TestRunAttr attr;
    attr.ctx_in = ctx;
    auto ran = prog->test_run(attr);
    ASSERT_TRUE(ran.ok()) << ran.error().to_string();
    EXPECT_EQ(ran->retval, last);

    // One byte short of the largest offset the program may read: refused
    // before it runs, so the read past the copy never happens.
    attr.ctx_in = std::span<const uint8_t>(ctx.data(), ctx.size() - 1);
    auto short_ctx = prog->test_run(attr);
    ASSERT_FALSE(short_ctx.ok());
    EXPECT_EQ(short_ctx.error().code(), EINVAL);
}

}  // namespace
}  // namespace crib::verifier
