// Runs conformance cases on the interpreter and judges them.
#pragma once

#include <string>
#include <vector>

#include "base/result.hpp"
#include "isa/insn.hpp"
#include "test_file.hpp"

namespace crib::conformance {

// The program of a case: `-- raw` decoded, else `-- asm` assembled.
// Refuses a case with neither, or with no instructions.
Result<std::vector<isa::Insn>> build_program(const TestCase& test);

// Compiles a program for the interpreter with the suite's helpers and runs
// it with r1 = a writable copy of memory, r2 = its length; yields r0.
Result<uint64_t> execute(std::span<const isa::Insn> program, std::span<const uint8_t> memory);

enum class Verdict {
    Pass,
    Fail,
    // A negative case that only a verifier can refuse (error.data reads an
    // uninitialised r0); crib has none yet, so it is neither pass nor fail.
    NeedsVerifier,
};

struct Outcome {
    Verdict verdict;
    std::string reason;  // why it failed, or what refused a negative case
};

// A case from tests/: it must yield its `-- result`, or be refused with its
// `-- error` text.
Outcome run_test(const TestCase& test);

// A case from negative/: it must be refused (parse, assemble, decode,
// compile) or yield something other than its `-- result`. An assembler
// refusal must carry the file's `-- error` text where it has one.
Outcome run_negative(const TestCase& test);

// The upstream bpf_conformance plugin protocol: argv (after the program
// name) is `[--program HEX] [MEM_HEX] [--debug]`; without --program, one
// line of space-separated hex program bytes is read from stdin. Prints r0
// in hex and returns 0, or prints the error and returns 1.
int run_plugin(int argc, char** argv);

}  // namespace crib::conformance
