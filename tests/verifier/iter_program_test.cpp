// A clang-built program with an open-coded iterator loop: the runtime
// verifies it (LoadOptions{} always does) and runs it on both engines with
// the bpf_test_* kfuncs underneath.
#include <gtest/gtest.h>

#include <cstring>

#include "runtime/runtime.hpp"
#include "verifier/test_kfuncs.hpp"

namespace crib::verifier {
namespace {

struct IterCtx {
    uint32_t start, end;
};

uint64_t global_u64(const runtime::LoadedObject& object, std::string_view section, size_t offset) {
    const maps::Map* map = object.find_map(section);
    EXPECT_NE(map, nullptr) << section;
    if (!map) return 0;
    uint32_t key = 0;
    std::vector<uint8_t> value(map->user_value_size());
    EXPECT_TRUE(map->lookup(&key, value.data()));
    uint64_t out = 0;
    std::memcpy(&out, value.data() + offset, sizeof out);
    return out;
}

class IterProgram : public ::testing::TestWithParam<runtime::Engine> {};

TEST_P(IterProgram, VerifiesAndRunsTheLoop) {
    test::register_test_kfuncs();
    auto loaded = runtime::load_file(std::string(CRIB_BPF_DIR) + "/verifier_iter.bpf.o",
                                     {.engine = GetParam()});
    ASSERT_TRUE(loaded) << loaded.error().to_string();
    const runtime::Prog* prog = (*loaded)->find_program("squares_to_ringbuf");
    ASSERT_NE(prog, nullptr);
    // The loop converges at its _next call in a few rounds, not one per
    // element (the verifier cannot know how many there are).
    EXPECT_GT(prog->verified_insns(), 0u);
    EXPECT_LT(prog->verified_insns(), 2000u);

    IterCtx ctx{3, 10};
    progs::TestRunAttr attr;
    attr.ctx_in = {reinterpret_cast<const uint8_t*>(&ctx), sizeof ctx};
    auto result = prog->test_run(attr);
    ASSERT_TRUE(result) << result.error().to_string();
    EXPECT_EQ(result->retval, 7u);
    uint64_t squares = 0, checksums = 0;
    for (uint64_t i = 3; i < 10; ++i) squares += i * i;
    for (uint64_t n = 0; n < 7; ++n)
        for (uint64_t b = 0; b < 16; ++b) checksums += (n + b) & 0xff;
    EXPECT_EQ(global_u64(**loaded, ".bss", 0), squares);
    EXPECT_EQ(global_u64(**loaded, ".bss", 8), checksums);
}

TEST_P(IterProgram, EmptyRangeRunsNoRound) {
    test::register_test_kfuncs();
    auto loaded = runtime::load_file(std::string(CRIB_BPF_DIR) + "/verifier_iter.bpf.o",
                                     {.engine = GetParam()});
    ASSERT_TRUE(loaded) << loaded.error().to_string();
    IterCtx ctx{5, 5};
    progs::TestRunAttr attr;
    attr.ctx_in = {reinterpret_cast<const uint8_t*>(&ctx), sizeof ctx};
    auto result = (*loaded)->find_program("squares_to_ringbuf")->test_run(attr);
    ASSERT_TRUE(result) << result.error().to_string();
    EXPECT_EQ(result->retval, 0u);
}

INSTANTIATE_TEST_SUITE_P(Engines, IterProgram,
                         ::testing::Values(runtime::Engine::Interp, runtime::Engine::Jit),
                         [](const auto& info) {
                             return info.param == runtime::Engine::Interp ? "interp" : "jit";
                         });

}  // namespace
}  // namespace crib::verifier
