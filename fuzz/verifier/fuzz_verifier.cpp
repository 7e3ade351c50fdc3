// libFuzzer entry: the input's bytes drive the program generator; every
// program the verifier accepts must run on the interpreter without a fault
// (ASan) and within its instruction budget. A violation aborts, so libFuzzer
// keeps the input as a crash artifact. The number of programs tried is
// libFuzzer's stat::number_of_executed_units.
#include <cstdio>
#include <cstdlib>

#include "soundness.hpp"
#include "verifier/test_kfuncs.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    crib::verifier::test::register_test_kfuncs();
    crib::fuzz::Draw draw({data, size});
    crib::fuzz::GeneratedProgram program = crib::fuzz::ProgramGen(draw).generate();
    static crib::fuzz::SoundnessStats stats;
    if (auto failure = crib::fuzz::check_soundness(program, draw, stats)) {
        fprintf(stderr, "verifier soundness: %s\n", failure->c_str());
        abort();
    }
    return 0;
}
