// The verifier's state at one instruction of one path: a frame per active
// call (registers and per-byte stack), the references the path holds, and
// what a path needs to resume after a callback.
#pragma once

#include <array>
#include <cstdint>
#include <vector>

#include "isa/insn.hpp"
#include "verifier/reg_state.hpp"

namespace crib::verifier {

// One byte of stack, as the kernel's slot_type.
enum class StackByte : uint8_t {
    Invalid,  // never written: reads are refused
    Misc,     // some scalar bytes
    Zero,     // known zero
    Spill,    // part of a spilled register (whole 8-byte slot)
};

inline constexpr int kStackSlots = isa::kStackSize / 8;
inline constexpr size_t kMaxCallFrames = 8;

struct Frame {
    std::array<RegState, isa::kRegisterCount> regs{};
    // Byte i is at r10 - kStackSize + i.
    std::array<StackByte, isa::kStackSize> bytes{};
    // The register spilled into each 8-byte slot (valid where bytes say Spill).
    std::array<RegState, kStackSlots> spills{};
    uint32_t callsite = 0;        // insn of the call that made this frame
    uint32_t subprog = 0;         // first insn of the function running in it
    uint32_t depth = 0;           // deepest stack byte touched, rounded later
    bool callback = false;        // entered from a helper (bpf_loop...)
    int32_t callback_helper = 0;  // that helper's id

    bool operator==(const Frame&) const = default;
};

struct Reference {
    uint32_t id;
    uint32_t insn;  // where it was acquired
    bool operator==(const Reference&) const = default;
};

struct State {
    std::vector<Frame> frames;
    std::vector<Reference> refs;
    uint32_t next_id = 1;  // ids for maybe-NULL and reference tracking

    Frame& top() { return frames.back(); }
    const Frame& top() const { return frames.back(); }
    RegState& reg(int r) { return frames.back().regs[r]; }
    uint32_t fresh_id() { return next_id++; }
};

}  // namespace crib::verifier
