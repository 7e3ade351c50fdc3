// Every program of the conformance suite through the ISA layer: it
// assembles, matches its `-- raw` words where a file has them, survives
// encode -> decode, and disassembles.
#include <gtest/gtest.h>

#include <cstring>

#include "isa/assembler.hpp"
#include "isa/data_file.hpp"
#include "isa/disassembler.hpp"

namespace crib::isa {
namespace {

TEST(ConformanceData, EveryAsmSectionAssemblesAndRoundTrips) {
    int files = 0;
    for (const auto& path : testing::data_files("tests")) {
        auto sections = testing::read_sections(path);
        auto source = sections.find("asm");
        if (source == sections.end()) continue;
        ++files;
        std::string name = path.filename().string();
        auto program = assemble(source->second);
        ASSERT_TRUE(program) << name << ": " << program.error().to_string();
        auto raw = encode(*program);

        if (auto expected = sections.find("raw"); expected != sections.end()) {
            auto bytes = testing::raw_bytes(expected->second);
            ASSERT_EQ(bytes.size(), raw.size() * sizeof(enc::RawInsn)) << name;
            EXPECT_EQ(std::memcmp(bytes.data(), raw.data(), bytes.size()), 0) << name;
        }

        auto back = decode(raw);
        ASSERT_TRUE(back) << name << ": " << back.error().to_string();
        ASSERT_EQ(back->size(), program->size()) << name;
        for (size_t pc = 0; pc < back->size(); ++pc) {
            const Insn& a = (*program)[pc];
            const Insn& b = (*back)[pc];
            EXPECT_TRUE(a.op == b.op && a.dst == b.dst && a.src == b.src && a.off == b.off &&
                        a.imm == b.imm && a.imm64 == b.imm64)
                << name << " insn " << pc;
            if (b.op == Op::lddw_tail) continue;
            std::string text = disassemble(b, static_cast<int>(pc));
            EXPECT_FALSE(text.empty()) << name << " insn " << pc;
            EXPECT_EQ(text.find('?'), std::string::npos) << name << ": " << text;
        }
    }
    EXPECT_GT(files, 300);
}

}  // namespace
}  // namespace crib::isa
