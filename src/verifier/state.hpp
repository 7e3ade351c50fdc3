// The verifier's state at one instruction of one path: a frame per active
// call (registers and per-byte stack), the references the path holds, and
// what a path needs to resume after a callback.
#pragma once

#include <array>
#include <cstdint>
#include <string_view>
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
    Iter,     // part of an open-coded iterator object: only iterator kfuncs touch it
};

inline constexpr int kStackSlots = isa::kStackSize / 8;
inline constexpr size_t kMaxCallFrames = 8;

// An open-coded iterator living in an 8-byte stack slot (kernel: the
// iter state of STACK_ITER slots). Every slot of the object carries it.
struct IterSlot {
    std::string_view name;    // "test_num" for struct bpf_iter_test_num
    uint32_t ref_obj_id = 0;  // the reference its _new acquired
    uint32_t first = 0;       // slot index where the object starts
    bool drained = false;     // _next returned NULL: it returns nothing more
    // Elements _next gave out on this path. Only loop detection looks at
    // it: a state that comes back with the iterator further on is a next
    // iteration, not an infinite loop (the kernel's iter depth).
    uint32_t depth = 0;
    bool operator==(const IterSlot&) const = default;
};

struct Frame {
    std::array<RegState, isa::kRegisterCount> regs{};
    // Byte i is at r10 - kStackSize + i.
    std::array<StackByte, isa::kStackSize> bytes{};
    // The register spilled into each 8-byte slot (valid where bytes say Spill).
    std::array<RegState, kStackSlots> spills{};
    // The iterator in each slot (valid where bytes say Iter).
    std::array<IterSlot, kStackSlots> iters{};
    uint32_t callsite = 0;        // insn of the call that made this frame
    uint32_t subprog = 0;         // first insn of the function running in it
    uint32_t depth = 0;           // deepest stack byte touched, rounded later
    bool callback = false;        // entered from a helper (bpf_loop...)
    int32_t callback_helper = 0;  // that helper's id

    bool operator==(const Frame&) const = default;
};

struct Reference {
    uint32_t id;
    uint32_t insn;          // where it was acquired
    std::string_view iter;  // an iterator's name when its _new acquired it
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
