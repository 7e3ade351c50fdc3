// The walk log (`crib prog load --log`): one line per insn walked with the
// registers it changed, and the refusal with the registers at that point.
#include <gtest/gtest.h>

#include "isa/assembler.hpp"
#include "verifier/verifier.hpp"

namespace crib::verifier {
namespace {

Result<VerifyResult> verify_logged(const char* text, std::string& log) {
    auto insns = isa::assemble(text);
    EXPECT_TRUE(insns) << insns.error().to_string();
    VerifyOptions options;
    options.log_all = true;
    options.log = [&log](LogLevel, std::string_view line) {
        log += line;
        log += '\n';
    };
    const progs::ProgTypeInfo& type = *progs::prog_type(progs::ProgType::Syscall);
    return verify({*insns, type, {}, nullptr}, options);
}

std::string line_starting(const std::string& log, std::string_view prefix) {
    size_t at = log.starts_with(prefix) ? 0 : log.find("\n" + std::string(prefix));
    if (at == std::string::npos) return {};
    if (log[at] == '\n') ++at;
    return log.substr(at, log.find('\n', at) - at);
}

TEST(VerifierLog, WalkLinesCarryTheChangedRegisters) {
    std::string log;
    auto result = verify_logged(R"(
        mov %r2, %r10
        add %r2, -8
        stdw [%r2+0], 7
        ldxdw %r0, [%r10-8]
        and %r0, 15
        exit
    )",
                                log);
    ASSERT_TRUE(result) << result.error().to_string();
    EXPECT_NE(log.find("0: "), std::string::npos) << log;
    EXPECT_NE(log.find("; R2=fp0"), std::string::npos) << log;
    EXPECT_NE(log.find("; R2=fp-8"), std::string::npos) << log;
    EXPECT_NE(log.find("; R0=7"), std::string::npos) << log;
    // A store changes no register: its line is the insn alone.
    std::string store = line_starting(log, "2: ");
    EXPECT_FALSE(store.empty()) << log;
    EXPECT_EQ(store.find(" ; "), std::string::npos) << store;
    EXPECT_NE(log.find("processed 6 insns"), std::string::npos) << log;
}

TEST(VerifierLog, RefusalNamesInsnAndRegisters) {
    std::string log;
    auto result = verify_logged(R"(
        mov %r2, 5
        ldxdw %r0, [%r2+0]
        exit
    )",
                                log);
    ASSERT_FALSE(result);
    EXPECT_EQ(result.error().loc().insn, 1);
    EXPECT_NE(log.find("insn 1: R2 invalid mem access 'scalar'"), std::string::npos) << log;
    EXPECT_NE(log.find("R2=5"), std::string::npos) << log;
}

}  // namespace
}  // namespace crib::verifier
