#include "runner.hpp"

#include <fmt/format.h>

#include <iostream>

#include "exec/interp/interpreter.hpp"
#include "exec/jit/jit.hpp"
#include "helpers.hpp"
#include "isa/assembler.hpp"

namespace crib::conformance {
namespace {

// Compares a refusal with a file's `-- error` text, past our stage and
// line prefixes (`assemble: line 1: Invalid register: %r50`).
bool refusal_matches(std::string_view message, const std::optional<std::string>& expected) {
    if (message.starts_with("assemble: ")) message.remove_prefix(10);
    return !expected || isa::strip_line_prefix(message).starts_with(*expected);
}

}  // namespace

Result<std::vector<isa::Insn>> build_program(const TestCase& test) {
    std::vector<isa::Insn> program;
    if (test.raw) {
        auto decoded = isa::decode_bytes(*test.raw);
        if (!decoded)
            return Error(decoded.error().code(), "decode: " + decoded.error().to_string());
        program = std::move(decoded).value();
    } else if (test.source) {
        auto assembled = isa::assemble(*test.source);
        if (!assembled)
            return Error(assembled.error().code(), "assemble: " + assembled.error().message());
        program = std::move(assembled).value();
    }
    // The upstream runner's wording for a file without code.
    if (program.empty()) return make_error(EINVAL, "Test file has no BPF instructions");
    return program;
}

Result<Execution> execute(std::span<const isa::Insn> program, std::span<const uint8_t> memory,
                          Engine engine) {
    Result<std::unique_ptr<exec::Program>> compiled = make_error(EINVAL, "no engine");
    if (engine == Engine::Jit) {
        exec::jit::Options options;
        options.unwind_helper = kUnwindHelper;
        compiled = exec::jit::compile(program, helper_imports(), options);
    } else {
        exec::interp::Options options;
        options.unwind_helper = kUnwindHelper;
        compiled = exec::interp::compile(program, helper_imports(), options);
    }
    if (!compiled)
        return Error(compiled.error().code(), "compile: " + compiled.error().to_string());
    // The program may write its memory; each run gets a fresh copy.
    Execution out{0, std::vector<uint8_t>(memory.begin(), memory.end())};
    const isa::Callable* entry = (*compiled)->entry();
    out.r0 = entry->invoke(entry, reinterpret_cast<uint64_t>(out.memory.data()), out.memory.size(),
                           0, 0, 0);
    return out;
}

namespace {

// The JIT must agree with the interpreter on everything a case can observe.
std::optional<std::string> disagreement(std::span<const isa::Insn> program, const TestCase& test,
                                        const Execution& jit) {
    auto reference = execute(program, test.memory, Engine::Interp);
    if (!reference) return "the interpreter refused it: " + reference.error().message();
    if (reference->r0 != jit.r0)
        return fmt::format("jit r0 = {:#x}, interpreter r0 = {:#x}", jit.r0, reference->r0);
    if (reference->memory != jit.memory)
        return std::string("jit and interpreter leave different memory");
    return std::nullopt;
}

}  // namespace

Outcome run_test(const TestCase& test, Engine engine) {
    auto program = build_program(test);
    if (!program) {
        if (test.error && refusal_matches(program.error().message(), test.error))
            return {Verdict::Pass, program.error().message()};
        return {Verdict::Fail, program.error().message()};
    }
    auto run = execute(*program, test.memory, engine);
    if (!run) {
        if (test.error && run.error().message().find(*test.error) != std::string::npos)
            return {Verdict::Pass, run.error().message()};
        return {Verdict::Fail, run.error().message()};
    }
    const uint64_t r0 = run->r0;
    if (test.error)
        return {Verdict::Fail, fmt::format("ran (r0 = {:#x}), expected '{}'", r0, *test.error)};
    if (!test.result) return {Verdict::Fail, "no -- result to compare with"};
    if (r0 != *test.result)
        return {Verdict::Fail, fmt::format("r0 = {:#x}, expected {:#x}", r0, *test.result)};
    if (engine == Engine::Jit)
        if (auto differs = disagreement(*program, test, *run)) return {Verdict::Fail, *differs};
    return {Verdict::Pass, {}};
}

Outcome run_negative(const TestCase& test, Engine engine) {
    if (test.source && !test.raw) {
        auto assembled = isa::assemble(*test.source);
        if (!assembled) {
            const std::string& message = assembled.error().message();
            if (!refusal_matches(message, test.error))
                return {Verdict::Fail,
                        fmt::format("refused with '{}', expected '{}'", message, *test.error)};
            return {Verdict::Pass, "assemble: " + message};
        }
    }
    auto program = build_program(test);
    if (!program) return {Verdict::Pass, program.error().message()};
    auto run = execute(*program, test.memory, engine);
    if (!run) return {Verdict::Pass, run.error().message()};
    const uint64_t r0 = run->r0;
    if (test.result && r0 != *test.result)
        return {Verdict::Pass, fmt::format("r0 = {:#x}, not {:#x}", r0, *test.result)};
    if (test.error && !test.result)
        return {Verdict::NeedsVerifier,
                fmt::format("ran (r0 = {:#x}); refusing it ('{}') needs the verifier", r0,
                            *test.error)};
    return {Verdict::Fail, fmt::format("accepted, r0 = {:#x}", r0)};
}

int run_plugin(int argc, char** argv) {
    std::vector<std::string_view> args(argv + std::min(argc, 1), argv + argc);
    std::string program_hex;
    std::string memory_hex;
    size_t next = 0;
    if (next < args.size() && args[next] == "--help") {
        std::cout << "usage: " << (argc > 0 ? argv[0] : "plugin")
                  << " [--program <hex program bytes>] [<hex memory bytes>] [--debug]\n";
        return 1;
    }
    if (next + 1 < args.size() && args[next] == "--program") {
        program_hex = args[next + 1];
        next += 2;
    } else {
        std::getline(std::cin, program_hex);
    }
    if (next < args.size() && !args[next].starts_with("--")) memory_hex = args[next++];
    if (next < args.size() && args[next] == "--debug") ++next;
    if (next < args.size()) {
        std::cout << "Unexpected arguments: " << args[next] << "\n";
        return 1;
    }

    auto run = [&]() -> Result<uint64_t> {
        auto bytes = CRIB_TRY(parse_hex_bytes(program_hex));
        auto memory = CRIB_TRY(parse_hex_bytes(memory_hex));
        auto program = isa::decode_bytes(bytes);
        if (!program)
            return Error(program.error().code(), "decode: " + program.error().to_string());
        if (program->empty()) return make_error(EINVAL, "Test file has no BPF instructions");
        return CRIB_TRY(execute(*program, memory)).r0;
    };
    auto r0 = run();
    if (!r0) {
        std::cout << r0.error().to_string() << "\n";
        return 1;
    }
    // Bare hex digits, as libbpf_plugin prints them; the runner parses base 16.
    std::cout << fmt::format("{:x}\n", *r0);
    return 0;
}

}  // namespace crib::conformance
