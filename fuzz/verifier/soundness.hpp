// The soundness check: verify a generated program and, when the verifier
// accepts it, run it on the interpreter (the reference engine) against real
// maps with random contexts. An accepted program that faults (ASan in the
// sanitizer build), or runs past the instruction budget, is a verifier bug.
#pragma once

#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "exec/interp/interpreter.hpp"
#include "program_gen.hpp"
#include "progs/kfuncs.hpp"
#include "verifier/verifier.hpp"

namespace crib::fuzz {

struct SoundnessStats {
    uint64_t tried = 0, accepted = 0, runs = 0;
    std::string last_refusal;  // the verifier's message for the last refused program
};

// Instructions one run of an accepted program may execute: generated loops
// run at most a few dozen rounds, nested twice.
inline constexpr uint64_t kRunBudget = 200'000;

namespace detail {
struct BudgetExceeded {};
}  // namespace detail

// Empty when the program is refused or ran safely; otherwise what went
// wrong. Needs the bpf_test_* kfuncs registered (test_kfuncs.hpp).
inline std::optional<std::string> check_soundness(const GeneratedProgram& program, Draw& draw,
                                                  SoundnessStats& stats) {
    stats.tried++;
    const progs::ProgTypeInfo& type = *progs::prog_type(progs::ProgType::Syscall);
    object::Program source;
    source.insns = program.insns;
    for (size_t pc = 0; pc < program.insns.size(); ++pc)
        if (program.insns[pc].op == isa::Op::call_kfunc)
            source.externs.push_back(object::ExternRef{
                pc, std::string(kIterKfuncs[program.insns[pc].imm]), object::ExternKind::Kfunc});
    std::vector<verifier::MapInfo> infos;
    for (const maps::MapSpec& spec : program.maps) infos.push_back(verifier::MapInfo{spec});
    verifier::VerifyOptions options;
    options.insn_budget = 100'000;
    auto verified = verifier::verify({program.insns, type, infos, &source}, options);
    if (!verified) {
        stats.last_refusal = verified.error().message();
        return std::nullopt;
    }
    stats.accepted++;

    std::vector<std::unique_ptr<maps::Map>> maps;
    for (const maps::MapSpec& spec : program.maps) {
        auto map = maps::create_map(spec);
        if (!map) return "create map: " + map.error().to_string();
        maps.push_back(std::move(*map));
    }
    std::vector<isa::Insn> insns = program.insns;
    for (size_t pc = 0; pc < insns.size(); ++pc) {
        if (insns[pc].op != isa::Op::lddw_map_idx) continue;
        auto address = reinterpret_cast<uint64_t>(maps.at(insns[pc].imm).get());
        insns[pc] = isa::make(isa::Op::lddw, insns[pc].dst, 0, 0, static_cast<int32_t>(address));
        insns[pc].imm64 = address;
        insns[pc + 1].imm = static_cast<int32_t>(address >> 32);
    }
    exec::Imports imports;
    imports.helper = [&type](int32_t id) -> exec::HelperFn {
        const progs::HelperInfo* helper = type.get_func_proto ? type.get_func_proto(id) : nullptr;
        return helper ? helper->fn : nullptr;
    };
    imports.kfunc = [](int32_t index, int16_t) -> exec::HelperFn {
        const progs::Kfunc* kfunc = progs::find_kfunc(progs::ProgType::Syscall, kIterKfuncs[index]);
        return kfunc ? kfunc->fn : nullptr;
    };
    uint64_t executed = 0;
    exec::interp::Options run_options;
    run_options.trace = true;
    run_options.trace_sink = [&executed](LogLevel, std::string_view) {
        if (++executed > kRunBudget) throw detail::BudgetExceeded{};
    };
    auto code = exec::interp::compile(insns, imports, run_options);
    if (!code) return "interpreter refused an accepted program: " + code.error().to_string();

    // The context is exactly as large as the verifier says the program reads.
    std::vector<uint8_t> ctx(verified->max_ctx_offset + 1);
    for (int round = 0; round < 3; ++round) {
        for (uint8_t& byte : ctx) byte = static_cast<uint8_t>(draw.next());
        executed = 0;
        try {
            (*code)->run(ctx.data());
        } catch (const detail::BudgetExceeded&) {
            return "an accepted program ran past " + std::to_string(kRunBudget) + " insns";
        }
        stats.runs++;
    }
    return std::nullopt;
}

}  // namespace crib::fuzz
