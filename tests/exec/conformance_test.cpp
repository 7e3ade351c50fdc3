// The bpf_conformance suite through the interpreter: every program with a
// `-- result` runs with r1 = a writable copy of `-- mem`, r2 = its length.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "exec/interp/interpreter.hpp"
#include "isa/assembler.hpp"
#include "isa/data_file.hpp"

namespace crib::exec::interp {
namespace {

// The suite's helpers (see the conformance README).
uint64_t gather_bytes(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e) {
    return (a & 0xff) << 32 | (b & 0xff) << 24 | (c & 0xff) << 16 | (d & 0xff) << 8 | (e & 0xff);
}
uint64_t memfrob(uint64_t address, uint64_t length, uint64_t, uint64_t, uint64_t) {
    auto* bytes = reinterpret_cast<uint8_t*>(address);
    for (uint64_t i = 0; i < length; ++i) bytes[i] ^= 42;
    return 0;
}
uint64_t no_op(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t) { return 0; }
uint64_t sqrti(uint64_t value, uint64_t, uint64_t, uint64_t, uint64_t) {
    return static_cast<uint64_t>(std::sqrt(static_cast<long double>(value)));
}
uint64_t strcmp_ext(uint64_t a, uint64_t b, uint64_t, uint64_t, uint64_t) {
    return static_cast<uint64_t>(static_cast<int64_t>(
        std::strcmp(reinterpret_cast<const char*>(a), reinterpret_cast<const char*>(b))));
}
uint64_t unwind(uint64_t r1, uint64_t, uint64_t, uint64_t, uint64_t) { return r1; }

constexpr int32_t kUnwind = 5;

Imports suite_imports() {
    Imports imports;
    imports.helper = [](int32_t id) -> HelperFn {
        static constexpr HelperFn kHelpers[] = {gather_bytes, memfrob,    no_op,
                                                sqrti,        strcmp_ext, unwind};
        return id >= 0 && id < 6 ? kHelpers[id] : nullptr;
    };
    return imports;
}

TEST(Conformance, EveryProgramGivesItsResult) {
    int ran = 0;
    for (const auto& path : isa::testing::data_files("tests")) {
        auto sections = isa::testing::read_sections(path);
        const std::string name = path.filename().string();
        if (!sections.count("asm") || !sections.count("result")) continue;
        auto code = isa::assemble(sections["asm"]);
        ASSERT_TRUE(code) << name << ": " << code.error().to_string();
        Options options;
        options.unwind_helper = kUnwind;
        auto program = compile(*code, suite_imports(), options);
        ASSERT_TRUE(program) << name << ": " << program.error().to_string();

        std::vector<uint8_t> mem = isa::testing::raw_bytes(sections["mem"]);
        const uint64_t expected = std::stoull(sections["result"], nullptr, 16);
        const Callable* entry = (*program)->entry();
        const uint64_t result = entry->invoke(entry, reinterpret_cast<uint64_t>(mem.data()),
                                              mem.size(), 0, 0, 0);
        EXPECT_EQ(result, expected) << name;
        ++ran;
    }
    EXPECT_GT(ran, 300);
}

}  // namespace
}  // namespace crib::exec::interp
