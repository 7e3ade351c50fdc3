// The interpreter's Program: pre-decoded slots plus what running them needs.
#pragma once

#include <array>
#include <deque>
#include <vector>

#include "exec/interp/code.hpp"

namespace crib::exec::interp {

class Machine final : public Program {
public:
    Machine(std::vector<isa::Insn> code, Translation translation, Imports imports,
            Options options);
    Machine(const Machine&) = delete;
    Machine& operator=(const Machine&) = delete;

    uint64_t run(const void* ctx) const override;
    const Callable* entry() const override { return &m_entries.front(); }

    // Runs from a subprogram start with r1..r5, following tail calls.
    uint64_t run_from(uint32_t start, const std::array<uint64_t, 5>& args) const;

private:
    // A subprogram made callable from native code.
    struct Entry : Callable {
        const Machine* machine;
        uint32_t start;
    };

    // Carried across the programs one run tail-calls through.
    struct Run {
        int tail_calls = 0;
        const Program* next = nullptr;
        uint64_t next_ctx = 0;
    };

    template <bool Trace>
    uint64_t execute(uint32_t start, const std::array<uint64_t, 5>& args, Run& run) const;

    // Out-of-line slow paths, kept off the handlers' fast paths.
    [[gnu::noinline]] static bool take_tail_call(Run& run, const uint64_t* regs);
    [[gnu::noinline, gnu::cold]] HelperFn resolve_indirect(int32_t helper_id, size_t pc) const;
    [[gnu::noinline]] void trace(size_t pc, const uint64_t* regs) const;

    const Entry* entry_at(uint32_t start);
    static uint64_t invoke_entry(const Callable* self, uint64_t r1, uint64_t r2, uint64_t r3,
                                 uint64_t r4, uint64_t r5);

    std::vector<isa::Insn> m_code;
    std::vector<Slot> m_slots;
    std::deque<Entry> m_entries;  // front() is the main function; stable addresses
    Imports m_imports;
    Options m_options;
};

}  // namespace crib::exec::interp
