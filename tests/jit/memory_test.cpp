// What the JIT promises about its code pages and its perf map.
#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "exec/engine_util.hpp"
#include "exec/jit/jit_program.hpp"

namespace crib::exec::jit {
namespace {

using isa::Op;
using testing::Asm;

const JitProgram& compiled(const std::unique_ptr<Program>& program) {
    return dynamic_cast<const JitProgram&>(*program);
}

std::unique_ptr<Program> build(Options options = {}) {
    auto program = compile(Asm().mov(0, 42).exit().code, {}, std::move(options));
    EXPECT_TRUE(program) << program.error().to_string();
    return program ? std::move(program).value() : nullptr;
}

// The permissions of the mapping holding `address`, from /proc/self/maps.
std::string permissions_at(const void* address) {
    std::ifstream maps("/proc/self/maps");
    const auto where = reinterpret_cast<uintptr_t>(address);
    for (std::string line; std::getline(maps, line);) {
        std::istringstream fields(line);
        std::string range, perms;
        fields >> range >> perms;
        const size_t dash = range.find('-');
        const uintptr_t begin = std::stoull(range.substr(0, dash), nullptr, 16);
        const uintptr_t end = std::stoull(range.substr(dash + 1), nullptr, 16);
        if (where >= begin && where < end) return perms;
    }
    return "unmapped";
}

TEST(ExecMemory, CodePagesAreExecutableAndNeverWritable) {
    auto program = build();
    ASSERT_TRUE(program);
    const ExecMemory& memory = compiled(program).memory();
    EXPECT_EQ(permissions_at(memory.data()), "r-xp");
    EXPECT_EQ(permissions_at(memory.data() + memory.size() - 1), "r-xp");
    EXPECT_EQ(program->run(nullptr), 42u);
}

TEST(ExecMemory, DestructionUnmaps) {
    const void* code = nullptr;
    {
        auto program = build();
        ASSERT_TRUE(program);
        code = compiled(program).memory().data();
    }
    EXPECT_EQ(permissions_at(code), "unmapped");
}

TEST(PerfMap, NamesTheCodeInTmpPerfPidMap) {
    Options options;
    options.perf_map = true;
    options.name = "perf_map_test";
    auto program = compile(Asm().op(Op::call_local, 0, 0, 0, 1).exit().mov(0, 7).exit().code, {},
                           std::move(options));
    ASSERT_TRUE(program) << program.error().to_string();
    const ExecMemory& memory = compiled(*program).memory();
    const auto base = reinterpret_cast<uintptr_t>(memory.data());

    std::ifstream map("/tmp/perf-" + std::to_string(getpid()) + ".map");
    ASSERT_TRUE(map.is_open());
    std::set<std::string> names;
    for (std::string line; std::getline(map, line);) {
        std::istringstream fields(line);
        std::string start, size, name;
        fields >> start >> size >> name;
        const uintptr_t address = std::stoull(start, nullptr, 16);
        if (address < base || address >= base + memory.size()) continue;
        EXPECT_LE(address + std::stoull(size, nullptr, 16), base + memory.size()) << line;
        names.insert(name);
    }
    EXPECT_EQ(names, (std::set<std::string>{"crib:perf_map_test", "crib:perf_map_test[enter]",
                                            "crib:perf_map_test[sub@2]"}));
}

TEST(PerfMap, OffByDefault) {
    std::string log;
    Options options;
    options.log = [&](LogLevel, std::string_view line) { log += line; };
    ASSERT_TRUE(build(options));
    EXPECT_EQ(log.find("perf"), std::string::npos);
    EXPECT_NE(log.find("bytes of code"), std::string::npos) << log;
}

}  // namespace
}  // namespace crib::exec::jit
