#include "isa/disassembler.hpp"

#include <gtest/gtest.h>

#include "isa/assembler.hpp"

namespace crib::isa {
namespace {

struct Case {
    std::string_view source;  // conformance dialect
    std::string_view kernel;  // as kernel/bpf/disasm.c prints it
};

// Expected strings follow print_bpf_insn() in kernel/bpf/disasm.c.
constexpr Case kCases[] = {
    {"add %r0, %r1", "r0 += r1"},
    {"add32 %r0, 1", "w0 += 1"},
    {"sub %r2, -3", "r2 -= -3"},
    {"mov %r0, -1", "r0 = -1"},
    {"mov32 %r1, %r2", "w1 = w2"},
    {"arsh %r1, 3", "r1 s>>= 3"},
    {"lsh32 %r1, %r3", "w1 <<= w3"},
    {"sdiv %r0, %r1", "r0 s/= r1"},
    {"smod %r0, %r1", "r0 s%= r1"},
    {"sdiv32 %r0, 7", "w0 s/= 7"},
    {"mod %r0, 7", "r0 %= 7"},
    {"neg %r0", "r0 = -r0"},
    {"neg32 %r3", "w3 = -w3"},
    {"movsx864 %r0, %r1", "r0 = (s8)r1"},
    {"movsx1632 %r0, %r1", "w0 = (s16)w1"},
    {"movsx3264 %r0, %r1", "r0 = (s32)r1"},
    {"be16 %r0", "r0 = be16 r0"},
    {"le32 %r0", "r0 = le32 r0"},
    {"bswap64 %r0", "r0 = bswap64 r0"},
    {"ldxw %r0, [%r1+4]", "r0 = *(u32 *)(r1 +4)"},
    {"ldxdw %r0, [%r10-8]", "r0 = *(u64 *)(r10 -8)"},
    {"ldxsb %r0, [%r1+0]", "r0 = *(s8 *)(r1 +0)"},
    {"ldxsh %r0, [%r1+2]", "r0 = *(s16 *)(r1 +2)"},
    {"stxdw [%r10-8], %r1", "*(u64 *)(r10 -8) = r1"},
    {"stb [%r1+2], 7", "*(u8 *)(r1 +2) = 7"},
    {"sth [%r1+2], -1", "*(u16 *)(r1 +2) = -1"},
    {"jeq %r1, 0x1, +1", "if r1 == 0x1 goto pc+1"},
    {"jsgt32 %r1, %r2, -3", "if w1 s> w2 goto pc-3"},
    {"jne %r1, -1, +0", "if r1 != 0xffffffff goto pc+0"},
    {"jset %r1, %r2, +2", "if r1 & r2 goto pc+2"},
    {"jsle32 %r1, 5, +2", "if w1 s<= 0x5 goto pc+2"},
    {"ja +2", "goto pc+2"},
    {"ja32 +2", "gotol pc+2"},
    {"call 1", "call unknown#1"},
    {"call local +5", "call pc+5"},
    {"call runtime 77", "call kernel-function#77"},
    {"call %r2", "callx r2"},
    {"exit", "exit"},
    {"lddw %r1, 0x1122334455667788", "r1 = 0x1122334455667788"},
    {"lock add [%r10-8], %r1", "lock *(u64 *)(r10 -8) += r1"},
    {"lock or32 [%r10-4], %r1", "lock *(u32 *)(r10 -4) |= r1"},
    {"lock fetch add [%r10-8], %r1", "r1 = atomic64_fetch_add((u64 *)(r10 -8), r1)"},
    {"lock fetch xor32 [%r10-4], %r2", "r2 = atomic_fetch_xor((u32 *)(r10 -4), r2)"},
    {"lock xchg [%r10-8], %r1", "r1 = atomic64_xchg((u64 *)(r10 -8), r1)"},
    {"lock cmpxchg [%r10-8], %r1", "r0 = atomic64_cmpxchg((u64 *)(r10 -8), r0, r1)"},
    {"lock cmpxchg32 [%r10-8], %r1", "r0 = atomic_cmpxchg((u32 *)(r10 -8), r0, r1)"},
};

TEST(Disassembler, KernelSpelling) {
    for (const Case& c : kCases) {
        auto program = assemble(c.source);
        ASSERT_TRUE(program) << c.source << ": " << program.error().to_string();
        EXPECT_EQ(disassemble((*program)[0], 0), c.kernel) << c.source;
    }
}

TEST(Disassembler, OpcodePrefixAndResolvers) {
    DisasmOptions options;
    options.show_opcode = true;
    EXPECT_EQ(disassemble(make(Op::mov64_imm, 0, 0, 0, 1), 0, options), "(b7) r0 = 1");

    options = {};
    options.call_name = [](const Insn& insn, int) {
        return insn.imm == 1 ? std::string("bpf_map_lookup_elem") : std::string();
    };
    EXPECT_EQ(disassemble(make(Op::call, 0, 0, 0, 1), 0, options), "call bpf_map_lookup_elem#1");
    EXPECT_EQ(disassemble(make(Op::call, 0, 0, 0, 2), 0, options), "call unknown#2");

    Insn map = make(Op::lddw_map_fd, 1, 0, 0, 3);
    map.imm64 = 3;
    EXPECT_EQ(disassemble(map, 0), "r1 = map[fd:3]");
    options.imm_name = [](const Insn& insn, int) {
        return "map[id:" + std::to_string(insn.imm) + "]";
    };
    EXPECT_EQ(disassemble(map, 0, options), "r1 = map[id:3]");
}

TEST(Disassembler, ListingSkipsLddwTailAndAnnotates) {
    auto program = assemble("lddw %r0, 0x100000002\nexit\n");
    ASSERT_TRUE(program);
    std::string listing = disassemble(*program, {}, [](int pc) {
        return pc == 0 ? std::string("return 1ull << 32 | 2;") : std::string();
    });
    EXPECT_EQ(listing, "; return 1ull << 32 | 2;\n0: r0 = 0x100000002\n2: exit\n");
}

}  // namespace
}  // namespace crib::isa
