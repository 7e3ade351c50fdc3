// What the interpreter's and the JIT's Programs share: the Callables through
// which native code enters their subprograms, and the run loop that follows
// tail calls from one program to the next. An engine supplies only how to
// run one program from one of its entries.
#pragma once

#include <array>
#include <cstdint>
#include <deque>

#include "exec/program.hpp"

namespace crib::exec {

using Args = std::array<uint64_t, 5>;  // r1..r5

// Carried across the programs one run tail-calls through.
struct TailCallChain {
    int count = 0;
    const Program* next = nullptr;
    uint64_t next_ctx = 0;

    // bpf_tail_call(ctx = regs[1], prog_array = regs[2], index = regs[3]).
    // True when the current program must end and the run go on in `next`;
    // false, the program carrying on, past kMaxTailCalls or on an empty slot.
    // Out of line: engines call it from their slow paths.
    [[gnu::noinline]] bool take(const uint64_t* regs);
};

class EngineProgram : public Program {
public:
    EngineProgram(const EngineProgram&) = delete;
    EngineProgram& operator=(const EngineProgram&) = delete;

    uint64_t run(const void* ctx) const final;
    const Callable* entry() const final { return &m_entries.front(); }

protected:
    // A subprogram made callable from native code.
    struct Entry : Callable {
        const EngineProgram* program;
        uint32_t start;  // pc
        // Where the engine starts it (the interpreter's first slot, the
        // JIT's machine code), set once that code is in place.
        const void* code = nullptr;
    };

    EngineProgram();

    // The entry of the subprogram starting at `start`, made on first use.
    // Native code holds entries' addresses, so they never move.
    Entry& entry_at(uint32_t start);
    std::deque<Entry>& entries() { return m_entries; }

    // Runs this program from `entry` until it exits, or until it tail-calls,
    // leaving the target in `tail`.
    virtual uint64_t run_entry(const Entry& entry, const Args& args, TailCallChain& tail) const = 0;

private:
    uint64_t run_from(const Entry& entry, const Args& args) const;
    static uint64_t invoke(const Callable* self, uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4,
                           uint64_t r5);

    std::deque<Entry> m_entries;  // front() is the main function
};

}  // namespace crib::exec
