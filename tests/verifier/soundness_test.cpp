// The verifier's soundness, briefly: random structured programs from
// fuzz/verifier/program_gen.hpp, each one the verifier accepts run on the
// interpreter (under ASan in the sanitizer build) with no fault and within
// its instruction budget. `make fuzz-test` runs the same check longer as
// the libFuzzer target fuzz_verifier.
#include <gtest/gtest.h>

#include "../../fuzz/verifier/soundness.hpp"
#include "verifier/test_kfuncs.hpp"

namespace crib::verifier {
namespace {

TEST(Soundness, AcceptedRandomProgramsRunSafely) {
    test::register_test_kfuncs();
    // CRIB_SOUNDNESS_PROGRAMS=N tries more.
    uint64_t count = 500;
    if (const char* env = getenv("CRIB_SOUNDNESS_PROGRAMS")) count = std::stoull(env);
    fuzz::SoundnessStats stats;
    for (uint64_t seed = 1; seed <= count; ++seed) {
        fuzz::Draw draw(seed);
        fuzz::GeneratedProgram program = fuzz::ProgramGen(draw).generate();
        auto failure = fuzz::check_soundness(program, draw, stats);
        ASSERT_FALSE(failure) << "seed " << seed << ": " << *failure;
    }
    RecordProperty("tried", static_cast<int>(stats.tried));
    RecordProperty("accepted", static_cast<int>(stats.accepted));
    printf("soundness: %lu programs tried, %lu accepted, %lu runs\n",
           static_cast<unsigned long>(stats.tried), static_cast<unsigned long>(stats.accepted),
           static_cast<unsigned long>(stats.runs));
    // The generator must make programs the verifier accepts, or this
    // checks nothing; and ones it refuses, or it probes no rule.
    EXPECT_GT(stats.accepted, stats.tried / 10);
    EXPECT_LT(stats.accepted, stats.tried);
}

}  // namespace
}  // namespace crib::verifier
