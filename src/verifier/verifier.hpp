// The verifier: proves a program safe to run before any engine sees it.
// It walks every path (pruning states already shown safe), tracking what
// each register and stack byte may hold, and refuses a program that could
// touch memory it may not, run forever, leak a reference or misuse a helper.
// Messages follow the kernel's wording where the kernel has one.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/log.hpp"
#include "base/result.hpp"
#include "isa/insn.hpp"
#include "maps/map.hpp"
#include "object/object.hpp"
#include "progs/prog_types.hpp"

namespace crib::verifier {

// A map the program may refer to: lddw_map_idx's imm indexes this list.
struct MapInfo {
    maps::MapSpec spec;
};

struct VerifyInput {
    std::span<const isa::Insn> insns;
    const progs::ProgTypeInfo& type;
    std::span<const MapInfo> maps;
    // Line info, function names and extern (kfunc) names; may be null.
    const object::Program* source = nullptr;
};

struct VerifyOptions {
    // Log every instruction walked with the registers it changed, as the
    // kernel's log_level 2 does; otherwise only the failure is logged.
    bool log_all = false;
    // Where log lines go as they are produced (the log also lands in
    // VerifyResult::log or the error).
    LogSink log;
    // Processed-instruction budget (BPF_COMPLEXITY_LIMIT_INSNS).
    uint64_t insn_budget = 1'000'000;
};

struct VerifyResult {
    uint32_t max_ctx_offset = 0;  // the largest ctx byte read, for BPF_PROG_RUN's ctx_size_in
    uint64_t insns_processed = 0;
    uint32_t states = 0;       // explored states kept for pruning
    uint32_t stack_depth = 0;  // deepest combined stack of any call chain
    std::string log;
};

// EACCES for an unsafe program, E2BIG when the budget runs out, EINVAL for
// malformed code (jumps out of range, unreachable insns), as the kernel.
// The error's Loc carries the insn; its message reads
// `<reason> (file.c:LINE: source)` when line info covers the insn.
Result<VerifyResult> verify(const VerifyInput& input, const VerifyOptions& options = {});

}  // namespace crib::verifier
