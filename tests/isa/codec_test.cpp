#include "isa/insn.hpp"

#include <gtest/gtest.h>

namespace crib::isa {
namespace {

TEST(Codec, RoundTripsEveryRow) {
    for (size_t i = 0; i < kOpCount; ++i) {
        Op op = static_cast<Op>(i);
        if (info(op).kind == Kind::LddwTail) continue;
        std::vector<Insn> program{
            make(op, info(op).uses(Field::Dst) ? 1 : 0, info(op).uses(Field::Src) ? 2 : 0)};
        if (info(op).kind == Kind::Lddw) program.push_back(Insn{Op::lddw_tail});
        auto raw = encode(program);
        auto back = decode(raw);
        ASSERT_TRUE(back) << info(op).name << ": " << back.error().to_string();
        EXPECT_EQ((*back)[0].op, op) << info(op).name;
    }
}

TEST(Codec, RefusesNonZeroUnusedField) {
    enc::RawInsn raw = encode(make(Op::add64_imm, 0, 0, 0, 1));
    raw.src = 1;
    auto result = decode(std::span(&raw, 1));
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().to_string(), "insn 0: add64_imm: unused field src must be 0, is 1");
}

TEST(Codec, RefusesUnknownOpcode) {
    enc::RawInsn raw{0xff, 0, 0, 0, 0};
    auto result = decode(std::span(&raw, 1));
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().to_string(), "insn 0: unknown opcode 0xff");
}

TEST(Codec, JoinsLddwHalves) {
    std::vector<enc::RawInsn> raw{{0x18, 1, 0, 0, 0x55667788}, {0, 0, 0, 0, 0x11223344}};
    auto result = decode(raw);
    ASSERT_TRUE(result);
    EXPECT_EQ((*result)[0].imm64, 0x1122334455667788u);
    EXPECT_EQ((*result)[1].op, Op::lddw_tail);
}

TEST(Codec, RefusesTruncatedLddw) {
    enc::RawInsn raw{0x18, 1, 0, 0, 1};
    auto result = decode(std::span(&raw, 1));
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().to_string(), "insn 0: lddw is missing its second slot");
}

TEST(Codec, SelectsByOffset) {
    enc::RawInsn raw = encode(make(Op::sdiv64_reg, 1, 2));
    EXPECT_EQ(raw.off, 1);
    auto result = decode(std::span(&raw, 1));
    ASSERT_TRUE(result);
    EXPECT_EQ((*result)[0].op, Op::sdiv64_reg);
}

}  // namespace
}  // namespace crib::isa
