// The verifier's working parts, shared by its source files: one Checker per
// verify() call. cfg.cpp checks the shape of the code and computes which
// registers matter where; explore.cpp walks paths and prunes; transfer.cpp
// is the one visitor over instruction kinds; memory.cpp and calls.cpp hold
// the access and call rules; log.cpp words messages.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "progs/kfuncs.hpp"
#include "verifier/state.hpp"
#include "verifier/verifier.hpp"

namespace crib::verifier {

using RegMask = uint16_t;

// The registers and stack slots of one frame whose exact value some check
// on a path below relied on (the kernel's precise marks). Other scalars
// are imprecise: pruning lets any scalar stand for them.
struct FramePrecision {
    RegMask regs = 0;
    uint64_t slots = 0;  // bit i: the 8-byte slot at r10 - kStackSize + 8 * i
    bool covers(const FramePrecision& o) const {
        return (regs & o.regs) == o.regs && (slots & o.slots) == o.slots;
    }
};
using Precision = std::array<FramePrecision, kMaxCallFrames>;

// One insn a path ran, remembered so that precision can be carried back
// over it (the kernel's jump history, kept for every insn): the frame that
// ran it and, for a load, store or atomic through a stack pointer, the
// frame and slots [first, last] it may touch (all a variable offset may
// reach).
struct Step {
    static constexpr uint8_t kStack = 1;     // touches the stack slots below
    static constexpr uint8_t kExact = 2;     // at a constant offset
    static constexpr uint8_t kCallback = 4;  // ran in a callback's frame
    uint32_t pc;
    uint8_t frame;
    uint8_t flags = 0;
    uint8_t stack_frame = 0, first = 0, last = 0;
};

struct Path {
    State state;
    uint32_t pc = 0;
    int parent = -1;  // the explored node this path descends from
    // Times this path came back to a helper for another callback run: a
    // repeated state across such a return is a fixed point, not a loop.
    uint32_t reentries = 0;
    std::vector<Step> trail;  // insns run since the parent node
};

struct Node {
    State state;
    uint32_t pc = 0;
    int parent = -1;
    uint32_t branches = 0;  // paths still running below this node
    uint32_t reentries = 0;
    uint32_t hits = 0, misses = 0;  // prunes it made, comparisons it failed
    std::vector<Step> trail;        // insns run from the parent to this one
    Precision precise{};
    bool listed = true;  // still in its insn's list of states to compare with
};

// How a memory access touches its target.
enum class Access : uint8_t { Read, Write, ReadWrite };

class Checker {
public:
    Checker(const VerifyInput& input, const VerifyOptions& options);
    Result<VerifyResult> run();

    // --- cfg.cpp
    Result<void> check_cfg();
    void compute_liveness();
    bool is_subprog_start(uint32_t pc) const;
    RegMask call_args(uint32_t pc) const;

    // --- explore.cpp
    void push(Path path);
    // Subsumption of `cur` by an explored `old` at pc; `exact` for loop
    // detection. Imprecise scalars of `old` (per `precise`) match any
    // scalar; null treats every scalar as precise.
    bool subsumes(const State& old, const State& cur, uint32_t pc, bool exact,
                  const Precision* precise) const;
    // At an iterator's _next: the nearest explored state up this path's
    // ancestry at the same insn with the same live iterator instance.
    const Node* iter_loop_head(const Path& path) const;
    // Loosen `cur` towards `old` so that a loop reaching this insn again
    // with a value that keeps growing converges (interval widening).
    void widen(const State& old, State& cur) const;

    // --- precision.cpp
    // A check at path.pc relied on the values of `regs` (top frame) before
    // the insn: they and whatever they were computed from up the path
    // become precise.
    void mark_precise(Path& path, RegMask regs);
    // The path is pruned against an explored state whose continuation
    // relied on `precise`: the path's ancestors rely on the same values.
    void backtrack(Path& path, const Precision& precise);
    // At an exit: r0 becomes precise if the exit rules look at its value.
    void mark_return_precise(Path& path);
    // Every register and slot, for a prune that compared all scalars.
    static Precision all_precise();
    // Appends the insn at path.pc, about to run, to the path's trail.
    void note_step(Path& path);

    // --- transfer.cpp: one instruction; false ends the path.
    Result<bool> step(Path& path);
    Result<void> alu(Path& path, const isa::Insn& insn);
    Result<bool> jump(Path& path, const isa::Insn& insn);
    Result<void> lddw(Path& path, const isa::Insn& insn);
    // The second operand of an ALU or jump: src or the immediate, which
    // 32-bit operations see zero-extended.
    Result<RegState> source_operand(Path& path, const isa::Insn& insn, int width);

    // --- memory.cpp
    Result<void> load(Path& path, const isa::Insn& insn);
    Result<void> store(Path& path, const isa::Insn& insn);
    Result<void> atomic(Path& path, const isa::Insn& insn);
    // Check `size` bytes at reg+off; on a read, `out` gets the loaded value.
    Result<void> check_mem(Path& path, int regno, int32_t off, int size, Access access,
                           RegState* out, bool sign_extend = false);
    // Helper arguments: memory the helper reads or writes, of `size` bytes
    // (a scalar range: every size it may take).
    Result<void> check_helper_mem(Path& path, int regno, const Scalar& size, Access access,
                                  bool maybe_null);
    // A size argument (ARG_CONST_SIZE[_OR_ZERO]): a bounded, non-negative scalar.
    Result<Scalar> check_size_arg(Path& path, int regno, progs::ArgKind kind);
    Result<void> check_stack_range(Path& path, int regno, const RegState& reg, int64_t lo,
                                   int64_t hi, Access access, const char* what);
    // The lowest and highest frame offsets reg+off may take (a stack
    // pointer with a bounded variable part).
    Result<std::pair<int64_t, int64_t>> stack_span(const Path& path, int regno,
                                                   const RegState& base, int16_t off);

    // --- calls.cpp
    Result<bool> call(Path& path, const isa::Insn& insn);
    Result<bool> call_helper(Path& path, const isa::Insn& insn);
    Result<bool> call_local(Path& path, const isa::Insn& insn);
    // --- kfunc.cpp
    Result<bool> call_kfunc(Path& path, const isa::Insn& insn);
    Result<void> kfunc_mem_arg(Path& path, const progs::Kfunc& kfunc, int arg, bool sized);
    // The iterator object r<arg+1> points at; its slot index and frame.
    struct IterRef {
        Frame* frame;
        int slot;
    };
    Result<IterRef> kfunc_iter_arg(Path& path, const progs::Kfunc& kfunc, int arg);
    // The kfunc a call_kfunc insn names (null: not callable by this type).
    const progs::Kfunc* kfunc_at(uint32_t pc) const;
    bool is_iter_next(uint32_t pc) const;
    // The live iterator r1 points at, at an iterator kfunc call.
    const IterSlot* iter_of_r1(const State& state) const;
    Result<bool> exit(Path& path);
    Result<void> check_reg_read(Path& path, int regno);
    void release_reference(State& state, uint32_t ref_obj_id);
    void note_stack_depth(const State& state);
    Result<void> check_combined_stack(uint32_t pc);

    // --- log.cpp
    Error error(uint32_t pc, int code, std::string message);
    void log_line(std::string line);
    std::string describe_regs(const State& state) const;
    // `pc: insn ; R0=... R2=...`: the insn and the registers it changed
    // (the whole frame after a call or return), as the kernel's log_level 2.
    std::string walk_line(uint32_t pc, const State& before, const State& after, bool alive) const;
    std::string disasm(uint32_t pc) const;
    std::string helper_name(int32_t id) const;

    const VerifyInput& m_in;
    const VerifyOptions& m_opt;
    std::vector<uint32_t> m_subprogs;  // first insn of each function, sorted
    std::vector<bool> m_prune_point;
    std::vector<RegMask> m_live;               // registers read before written, per insn
    std::vector<std::vector<int>> m_explored;  // nodes per insn
    std::vector<Node> m_nodes;
    std::vector<Path> m_stack;  // pending paths (DFS)
    uint32_t m_max_ctx_offset = 0;
    uint64_t m_processed = 0;
    uint32_t m_stack_depth = 0;
    std::string m_log;
    uint32_t m_pc = 0;  // the insn being processed, for messages
    // Stack access operands (check_stack_range): size, sign extension, the
    // value a write stores and the value a read loads.
    int m_load_size = 0;
    bool m_load_sext = false;
    RegState m_store_value;
    RegState m_loaded;
    std::vector<uint32_t> m_subprog_depth;                    // deepest stack byte per function
    std::vector<std::pair<uint32_t, uint32_t>> m_call_edges;  // caller, callee function starts
    std::vector<std::string_view> m_kfunc_names;              // per call_kfunc insn
};

// Subprogram containing pc (the last start <= pc).
uint32_t subprog_of(const std::vector<uint32_t>& starts, uint32_t pc);

}  // namespace crib::verifier
