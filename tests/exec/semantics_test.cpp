// RFC 9669 semantics, one table row per case; the last test checks that
// every row of insn.def has a case here or a dedicated test elsewhere.
#include <array>
#include <cstring>
#include <set>

#include "exec/engine_util.hpp"

namespace crib::exec {
namespace {

using namespace testing;

CRIB_ENGINE_SUITE(Semantics);
using isa::info;
using isa::Kind;

constexpr uint64_t kMin64 = 0x8000000000000000;
constexpr uint64_t kAll = ~uint64_t{0};
constexpr uint64_t neg(uint64_t v) {
    return uint64_t{0} - v;
}

// dst op= operand: for *_imm rows operand is the imm (int32, sign-extended
// as the ISA does); for *_reg rows it is loaded into r2 whole.
struct AluCase {
    Op op;
    uint64_t dst;
    uint64_t operand;
    uint64_t expected;
};

const std::vector<AluCase> kAluCases = {
    {Op::add64_imm, 1, neg(1), 0},
    {Op::add64_reg, kAll, 2, 1},
    {Op::sub64_imm, 5, 7, neg(2)},
    {Op::sub64_reg, 0, 1, kAll},
    {Op::mul64_imm, 0x100000000, 3, 0x300000000},
    {Op::mul64_reg, neg(2), 3, neg(6)},
    {Op::div64_imm, 100, 7, 14},
    {Op::div64_imm, 100, 0, 0},
    {Op::div64_imm, 100, neg(1), 0},  // imm -1 is 2^64-1 unsigned
    {Op::div64_reg, kAll, 0, 0},
    {Op::div64_reg, kAll, 0x10, 0x0fffffffffffffff},
    {Op::sdiv64_imm, neg(100), 7, neg(14)},
    {Op::sdiv64_imm, 100, 0, 0},
    {Op::sdiv64_reg, kMin64, neg(1), kMin64},
    {Op::sdiv64_reg, 7, 0, 0},
    {Op::sdiv64_reg, neg(7), neg(2), 3},
    {Op::or64_imm, 0x100000000, 0x0f, 0x10000000f},
    {Op::or64_reg, 0xf0, 0x0f00000000000000, 0x0f000000000000f0},
    {Op::and64_imm, kAll, neg(2), neg(2)},
    {Op::and64_reg, 0xff00ff, 0x0ff0, 0xf0},
    {Op::lsh64_imm, 1, 63, kMin64},
    {Op::lsh64_reg, 1, 65, 2},  // amount & 63
    {Op::rsh64_imm, kMin64, 63, 1},
    {Op::rsh64_reg, kMin64, 64, kMin64},
    {Op::mod64_imm, 100, 7, 2},
    {Op::mod64_imm, 100, 0, 100},
    {Op::mod64_reg, kAll, 0, kAll},
    {Op::mod64_reg, 17, 5, 2},
    {Op::smod64_imm, neg(100), 7, neg(2)},
    {Op::smod64_imm, neg(100), 0, neg(100)},
    {Op::smod64_reg, kMin64, neg(1), 0},
    {Op::smod64_reg, 100, neg(7), 2},
    {Op::xor64_imm, 0xff, neg(1), ~uint64_t{0xff}},
    {Op::xor64_reg, 0x1234, 0x1234, 0},
    {Op::mov64_imm, 5, neg(1), kAll},
    {Op::mov64_reg, 5, 0x1122334455667788, 0x1122334455667788},
    {Op::arsh64_imm, kMin64, 4, 0xf800000000000000},
    {Op::arsh64_reg, kMin64, 68, 0xf800000000000000},
    {Op::neg64, 5, 0, neg(5)},
    {Op::neg64, kMin64, 0, kMin64},
    {Op::movsx64_8, 0, 0x180, 0xffffffffffffff80},
    {Op::movsx64_8, 0, 0x7f, 0x7f},
    {Op::movsx64_16, 0, 0x18000, 0xffffffffffff8000},
    {Op::movsx64_32, 0, 0x180000000, 0xffffffff80000000},

    {Op::add32_imm, kAll, 1, 0},
    {Op::add32_reg, 0x100000005, 0x200000001, 6},
    {Op::sub32_imm, 0, 1, 0xffffffff},
    {Op::sub32_reg, 0x500000003, 5, 0xfffffffe},
    {Op::mul32_imm, 0x10000, 0x10000, 0},
    {Op::mul32_reg, 0x100000003, 0x100000003, 9},
    {Op::div32_imm, 0x100000064, 10, 10},
    {Op::div32_imm, 100, 0, 0},
    {Op::div32_reg, 100, 0x100000000, 0},  // low 32 bits of the divisor are 0
    {Op::div32_reg, kAll, 2, 0x7fffffff},
    {Op::sdiv32_imm, 0xffffff9c, 7, 0xfffffff2},  // -100 / 7 = -14
    {Op::sdiv32_imm, 100, 0, 0},
    {Op::sdiv32_reg, 0x80000000, 0xffffffff, 0x80000000},
    {Op::sdiv32_reg, 0xfffffff9, 0, 0},
    {Op::or32_imm, 0xff00000000, 0x0f, 0x0f},
    {Op::or32_reg, 0x10, 0x100000001, 0x11},
    {Op::and32_imm, kAll, 0xff, 0xff},
    {Op::and32_reg, kAll, kAll, 0xffffffff},
    {Op::lsh32_imm, 0x80000001, 1, 2},
    {Op::lsh32_reg, 1, 33, 2},  // amount & 31
    {Op::rsh32_imm, 0xffffffff80000000, 31, 1},
    {Op::rsh32_reg, 0x80000000, 32, 0x80000000},
    // A count of 0 (after masking) still zero-extends: x86 leaves the
    // register alone on a zero count, so the JIT must not rely on the shift.
    {Op::lsh32_reg, 0xffffffff00000001, 32, 1},
    {Op::arsh32_reg, 0xffffffff80000000, 0, 0x80000000},
    {Op::rsh32_imm, 0xffffffff00000003, 0, 3},
    {Op::mod32_imm, 100, 7, 2},
    {Op::mod32_imm, 0xffffffff00000064, 0, 0x64},  // dst kept, zero-extended
    {Op::mod32_reg, 0xffffffff00000064, 0x100000000, 0x64},
    {Op::mod32_reg, 17, 5, 2},
    {Op::smod32_imm, 0xffffff9c, 7, 0xfffffffe},  // -100 % 7 = -2
    {Op::smod32_imm, 0xffffffff00000005, 0, 5},
    {Op::smod32_reg, 0x80000000, 0xffffffff, 0},
    {Op::smod32_reg, 100, 0xfffffff9, 2},
    {Op::xor32_imm, 0x1000000ff, 0xf0, 0x0f},
    {Op::xor32_reg, 0xf, 0xff00000000, 0xf},
    {Op::mov32_imm, 5, neg(1), 0xffffffff},
    {Op::mov32_reg, 5, 0xffffffff12345678, 0x12345678},
    {Op::arsh32_imm, 0xffffffff80000000, 4, 0xf8000000},
    {Op::arsh32_reg, 0x80000000, 36, 0xf8000000},
    {Op::neg32, 1, 0, 0xffffffff},
    {Op::neg32, 0x100000000, 0, 0},
    {Op::movsx32_8, 0, 0xff80, 0xffffff80},
    {Op::movsx32_16, 0, 0x18000, 0xffff8000},

    {Op::le16, 0x1122334455667788, 0, 0x7788},
    {Op::le32, 0x1122334455667788, 0, 0x55667788},
    {Op::le64, 0x1122334455667788, 0, 0x1122334455667788},
    {Op::be16, 0x1122334455667788, 0, 0x8877},
    {Op::be32, 0x1122334455667788, 0, 0x88776655},
    {Op::be64, 0x1122334455667788, 0, 0x8877665544332211},
    {Op::bswap16, 0x1122334455667788, 0, 0x8877},
    {Op::bswap32, 0x1122334455667788, 0, 0x88776655},
    {Op::bswap64, 0x1122334455667788, 0, 0x8877665544332211},
};

std::vector<Insn> alu_program(const AluCase& c) {
    Asm a;
    a.lddw(1, c.dst);
    const isa::OpInfo& row = info(c.op);
    if (row.source_is_reg()) {
        a.lddw(2, c.operand);
        a.op(c.op, 1, 2);
    } else if (row.uses(isa::Field::Imm)) {
        a.op(c.op, 1, 0, 0, static_cast<int32_t>(c.operand));
    } else {
        a.op(c.op, 1);
    }
    return a.op(Op::mov64_reg, 0, 1).exit().code;
}

TEST_P(Semantics, Alu) {
    for (const AluCase& c : kAluCases) {
        EXPECT_EQ(run(alu_program(c)), c.expected)
            << info(c.op).name << " dst=" << std::hex << c.dst << " operand=" << c.operand;
    }
}

// Whether `op r1, operand, +1` jumps, for r1 = dst.
struct JumpCase {
    Op op;
    uint64_t dst;
    uint64_t operand;
    bool taken;
};

const std::vector<JumpCase> kJumpCases = {
    {Op::jeq64_imm, 5, 5, true},
    {Op::jeq64_imm, kAll, neg(1), true},
    {Op::jeq64_reg, 0x100000005, 5, false},
    {Op::jeq32_imm, 0x100000005, 5, true},
    {Op::jeq32_reg, 0x100000005, 0x200000005, true},
    {Op::jne64_imm, 5, 5, false},
    {Op::jne64_reg, 0x100000005, 5, true},
    {Op::jne32_imm, 0x100000005, 5, false},
    {Op::jne32_reg, 1, 2, true},
    {Op::jgt64_imm, kAll, 1, true},
    {Op::jgt64_reg, 1, 1, false},
    {Op::jgt32_imm, 0x100000000, 1, false},
    {Op::jgt32_reg, 0xffffffff, 1, true},
    {Op::jge64_imm, 1, 1, true},
    {Op::jge64_reg, 0, 1, false},
    {Op::jge32_imm, 0x100000001, 1, true},
    {Op::jge32_reg, 0x100000000, 1, false},
    {Op::jlt64_imm, 1, 2, true},
    {Op::jlt64_reg, kAll, 2, false},
    {Op::jlt32_imm, 0x100000001, 2, true},
    {Op::jlt32_reg, 0xffffffff, 2, false},
    {Op::jle64_imm, 2, 2, true},
    {Op::jle64_reg, 3, 2, false},
    {Op::jle32_imm, 0x300000002, 2, true},
    {Op::jle32_reg, 3, 0x100000002, false},
    {Op::jset64_imm, 6, 2, true},
    {Op::jset64_reg, 4, 2, false},
    {Op::jset32_imm, 0x100000000, neg(1), false},
    {Op::jset32_reg, 0x100000001, 1, true},
    {Op::jsgt64_imm, kAll, 1, false},
    {Op::jsgt64_reg, 0x80000000, 1, true},
    {Op::jsgt32_imm, 0x80000000, 1, false},
    {Op::jsgt32_reg, 2, 1, true},
    {Op::jsge64_imm, neg(1), neg(1), true},
    {Op::jsge64_reg, neg(2), neg(1), false},
    {Op::jsge32_imm, 0xffffffff, neg(1), true},
    {Op::jsge32_reg, 0x80000000, 0, false},
    {Op::jslt64_imm, neg(2), neg(1), true},
    {Op::jslt64_reg, 0, neg(1), false},
    {Op::jslt32_imm, 0x80000000, 0, true},
    {Op::jslt32_reg, 0x7fffffff, 0x80000000, false},
    {Op::jsle64_imm, neg(1), neg(1), true},
    {Op::jsle64_reg, 1, neg(1), false},
    {Op::jsle32_imm, 0xffffffff, 0, true},
    {Op::jsle32_reg, 0x100000001, 0, false},
};

TEST_P(Semantics, ConditionalJumps) {
    for (const JumpCase& c : kJumpCases) {
        Asm a;
        a.lddw(1, c.dst);
        if (info(c.op).source_is_reg()) {
            a.lddw(2, c.operand);
            a.op(c.op, 1, 2, 2);
        } else {
            a.op(c.op, 1, 0, 2, static_cast<int32_t>(c.operand));
        }
        a.mov(0, 0).exit().mov(0, 1).exit();
        EXPECT_EQ(run(a.code), c.taken ? 1u : 0u)
            << info(c.op).name << " dst=" << std::hex << c.dst << " operand=" << c.operand;
    }
}

TEST_P(Semantics, UnconditionalJumps) {
    Asm a;
    a.mov(0, 1)
        .op(Op::ja, 0, 0, 1)
        .mov(0, 2)
        .op(Op::ja32, 0, 0, 0, 2)
        .mov(0, 3)
        .exit()
        .op(Op::add64_imm, 0, 0, 0, 10)
        .op(Op::ja, 0, 0, -3)
        .exit();
    // 0 -> 1 -> 3 -> 6 -> 7 -> 5: the skipped movs would change r0.
    EXPECT_EQ(run(a.code), 11u);
}

TEST_P(Semantics, Lddw) {
    EXPECT_EQ(run(Asm().lddw(0, 0x1122334455667788).exit().code), 0x1122334455667788u);
    EXPECT_EQ(run(Asm().lddw(0, kAll).exit().code), kAll);
}

TEST_P(Semantics, LoadsAndStores) {
    alignas(8) std::array<uint8_t, 32> mem{};
    const std::array<uint8_t, 8> bytes{0x88, 0x77, 0x66, 0x55, 0x44, 0x33, 0x22, 0x91};
    std::memcpy(mem.data(), bytes.data(), bytes.size());
    struct Load {
        Op op;
        int16_t off;
        uint64_t expected;
    };
    const Load loads[] = {
        {Op::ldxb, 0, 0x88},
        {Op::ldxh, 0, 0x7788},
        {Op::ldxw, 0, 0x55667788},
        {Op::ldxdw, 0, 0x9122334455667788},
        {Op::ldxsb, 0, 0xffffffffffffff88},
        {Op::ldxsh, 6, 0xffffffffffff9122},
        {Op::ldxsw, 4, 0xffffffff91223344},
        {Op::ldxsb, 1, 0x77},
        {Op::ldxw, 1, 0x44556677},  // unaligned
    };
    for (const Load& l : loads)
        EXPECT_EQ(run(Asm().op(l.op, 0, 1, l.off).exit().code, mem.data()), l.expected)
            << info(l.op).name << " off " << l.off;

    Asm a;
    a.op(Op::stb, 1, 0, 8, 0x1ff)
        .op(Op::sth, 1, 0, 10, 0x12345)
        .op(Op::stw, 1, 0, 12, -2)
        .op(Op::stdw, 1, 0, 16, -1)  // the imm is sign-extended to 64 bits
        .lddw(2, 0x0102030405060708)
        .op(Op::stxb, 1, 2, 24)
        .op(Op::stxh, 1, 2, 25)
        .op(Op::stxw, 1, 2, 27)
        .op(Op::stxdw, 10, 2, -8)  // the stack
        .op(Op::ldxdw, 0, 10, -8)
        .exit();
    EXPECT_EQ(run(a.code, mem.data()), 0x0102030405060708u);
    const std::array<uint8_t, 23> expected{0xff, 0,    0x45, 0x23, 0xfe, 0xff, 0xff, 0xff,
                                           0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                           0x08, 0x08, 0x07, 0x08, 0x07, 0x06, 0x05};
    EXPECT_EQ(0, std::memcmp(mem.data() + 8, expected.data(), expected.size()));
}

// Atomic rows on a 64-bit word at [r1]: memory after, and the register the
// row writes back (src for fetches and xchg, r0 for cmpxchg).
struct AtomicCase {
    Op op;
    uint64_t memory;
    uint64_t operand;  // r2
    uint64_t r0;
    uint64_t memory_after;
    uint64_t result;  // r2 afterwards, or r0 for cmpxchg
};

const std::vector<AtomicCase> kAtomicCases = {
    {Op::atomic_add64, 40, 2, 0, 42, 2},
    {Op::atomic_fetch_add64, 40, 2, 0, 42, 40},
    {Op::atomic_or64, 0xf0, 0x0f, 0, 0xff, 0x0f},
    {Op::atomic_fetch_or64, 0xf0, 0x0f, 0, 0xff, 0xf0},
    {Op::atomic_and64, 0xf0, 0x3c, 0, 0x30, 0x3c},
    {Op::atomic_fetch_and64, 0xf0, 0x3c, 0, 0x30, 0xf0},
    {Op::atomic_xor64, 0xff, 0x0f, 0, 0xf0, 0x0f},
    {Op::atomic_fetch_xor64, 0xff, 0x0f, 0, 0xf0, 0xff},
    {Op::atomic_xchg64, 7, kAll, 0, kAll, 7},
    {Op::atomic_cmpxchg64, 7, 9, 7, 9, 7},  // equal: stored
    {Op::atomic_cmpxchg64, 7, 9, 8, 7, 7},  // differs: r0 = old
    // 32-bit rows touch the low word and zero-extend what they fetch.
    {Op::atomic_add32, 0x1ffffffff, 1, 0, 0x100000000, 1},
    {Op::atomic_fetch_add32, 0xaaaaaaaa80000000, 1, 0, 0xaaaaaaaa80000001, 0x80000000},
    {Op::atomic_or32, 0x100000000, 1, 0, 0x100000001, 1},
    {Op::atomic_fetch_or32, 0xff000000f0, 0xf, 0, 0xff000000ff, 0xf0},
    {Op::atomic_and32, 0xffffffffffffffff, 0xf, 0, 0xffffffff0000000f, 0xf},
    {Op::atomic_fetch_and32, 0xffffffffffffffff, 0xf, 0, 0xffffffff0000000f, 0xffffffff},
    {Op::atomic_xor32, 0x1, 0x100000003, 0, 0x2, 0x100000003},
    {Op::atomic_fetch_xor32, 0xffffffff00000001, 3, 0, 0xffffffff00000002, 1},
    {Op::atomic_xchg32, 0xffffffff80000000, 0x100000005, 0, 0xffffffff00000005, 0x80000000},
    {Op::atomic_cmpxchg32, 0xffffffff80000000, 5, 0x180000000, 0xffffffff00000005, 0x80000000},
    {Op::atomic_cmpxchg32, 0x80000000, 5, 1, 0x80000000, 0x80000000},
};

TEST_P(Semantics, Atomics) {
    for (const AtomicCase& c : kAtomicCases) {
        alignas(8) uint64_t word = c.memory;
        const bool cmpxchg = info(c.op).operation == isa::Operation::Cmpxchg;
        Asm a;
        a.lddw(2, c.operand).lddw(0, c.r0).op(c.op, 1, 2, 0);
        if (!cmpxchg) a.op(Op::mov64_reg, 0, 2);
        a.exit();
        EXPECT_EQ(run(a.code, &word), c.result) << info(c.op).name;
        EXPECT_EQ(word, c.memory_after) << info(c.op).name;
    }
}

TEST_P(Semantics, AtomicWithOffsetOnStack) {
    Asm a;
    a.op(Op::stdw, 10, 0, -16, 5)
        .mov(1, 3)
        .op(Op::atomic_fetch_add64, 10, 1, -16)
        .op(Op::ldxdw, 0, 10, -16)
        .op(Op::add64_reg, 0, 1)  // 8 + old 5
        .exit();
    EXPECT_EQ(run(a.code), 13u);
}

// Ops tested outside the tables above, and where.
const std::set<Op> kCoveredElsewhere = {
    Op::ja,
    Op::ja32,  // UnconditionalJumps
    Op::lddw,
    Op::lddw_tail,  // Lddw
    Op::exit,       // everywhere
    Op::call,
    Op::call_local,
    Op::call_kfunc,
    Op::callx,      // calls_test.cpp
    Op::lddw_func,  // calls_test.cpp (bpf_loop)
    Op::lddw_map_fd,
    Op::lddw_map_value,
    Op::lddw_btf_id,
    Op::lddw_map_idx,
    Op::lddw_map_idx_value,  // compile_test.cpp (refused)
    Op::ldxb,
    Op::ldxh,
    Op::ldxw,
    Op::ldxdw,
    Op::ldxsb,
    Op::ldxsh,
    Op::ldxsw,
    Op::stb,
    Op::sth,
    Op::stw,
    Op::stdw,
    Op::stxb,
    Op::stxh,
    Op::stxw,
    Op::stxdw,  // LoadsAndStores
};

TEST(SemanticsCoverage, EveryRowOfInsnDefHasACase) {
    std::set<Op> covered = kCoveredElsewhere;
    for (const auto& c : kAluCases) covered.insert(c.op);
    for (const auto& c : kJumpCases) covered.insert(c.op);
    for (const auto& c : kAtomicCases) covered.insert(c.op);
    for (size_t i = 0; i < isa::kOpCount; ++i)
        EXPECT_TRUE(covered.count(static_cast<Op>(i))) << "no test for " << isa::kOps[i].name;
}

}  // namespace
}  // namespace crib::exec
