// The structural checks both engines run before translating a program, so
// they refuse the same programs in the same words, and the subprogram layout
// the checks find, which both translate by.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "base/result.hpp"
#include "isa/insn.hpp"

namespace crib::exec {

struct Structure {
    std::vector<uint32_t> starts;  // subprogram starts, sorted; starts[0] == 0 is the main function
    std::vector<uint32_t> owner;   // per slot, the index in starts of its subprogram

    size_t subprogram_count() const { return starts.size(); }
    // One past the last slot of subprogram `sub`.
    size_t end_of(size_t sub) const {
        return sub + 1 < starts.size() ? starts[sub + 1] : owner.size();
    }
};

// Where a jump, local call or function load points (relative to the next
// slot, from off or imm as the instruction has it), if it points anywhere.
std::optional<int64_t> target_of(const isa::Insn& insn, size_t pc);

// Refuses, naming the instruction, an empty program, registers above r10,
// broken lddw pairs, jumps and calls out of range or into an lddw, jumps
// between subprograms, a subprogram that can fall off its end, recursion and
// call chains deeper than kMaxCallDepth. Imports are the engines' to check.
Result<Structure> check_structure(std::span<const isa::Insn> code);

}  // namespace crib::exec
