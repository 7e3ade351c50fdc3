// Runs conformance cases on an engine and judges them.
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

enum class Engine { Interp, Jit };

// What a run leaves: r0 and the memory the program was given.
struct Execution {
    uint64_t r0;
    std::vector<uint8_t> memory;
};

// Compiles a program for an engine with the suite's helpers and runs it with
// r1 = a writable copy of memory, r2 = its length.
Result<Execution> execute(std::span<const isa::Insn> program, std::span<const uint8_t> memory,
                          Engine engine = Engine::Interp);

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
// `-- error` text. On the JIT it must also leave r0 and memory as the
// interpreter (the reference) does.
Outcome run_test(const TestCase& test, Engine engine = Engine::Interp);

// A case from negative/: it must be refused (parse, assemble, decode,
// compile) or yield something other than its `-- result`. An assembler
// refusal must carry the file's `-- error` text where it has one.
Outcome run_negative(const TestCase& test, Engine engine = Engine::Interp);

// The upstream bpf_conformance plugin protocol: argv (after the program
// name) is `[--program HEX] [MEM_HEX] [--debug]`; without --program, one
// line of space-separated hex program bytes is read from stdin. Prints r0
// in hex and returns 0, or prints the error and returns 1.
int run_plugin(int argc, char** argv);

}  // namespace crib::conformance
