// The JIT's Program: code in W^X pages plus what running it needs.
#pragma once

#include <array>
#include <deque>

#include "exec/jit/exec_memory.hpp"
#include "exec/jit/jit.hpp"
#include "exec/jit/run_state.hpp"

namespace crib::exec::jit {

class JitProgram final : public Program {
public:
    static Result<std::unique_ptr<Program>> create(std::span<const isa::Insn> code,
                                                   const Imports& imports, Options options);
    JitProgram(const JitProgram&) = delete;
    JitProgram& operator=(const JitProgram&) = delete;

    uint64_t run(const void* ctx) const override;
    const Callable* entry() const override { return &m_entries.front(); }

    // Runs code with r1..r5 through the entry stub, following tail calls.
    uint64_t run_from(const uint8_t* code, const std::array<uint64_t, 5>& args) const;

    const Imports& imports() const { return m_imports; }
    const Options& options() const { return m_options; }
    const ExecMemory& memory() const { return m_memory; }

private:
    JitProgram(Imports imports, Options options)
        : m_imports(std::move(imports)), m_options(std::move(options)) {}

    // A subprogram made callable from native code.
    struct Entry : Callable {
        const JitProgram* program;
        uint32_t start;
        const uint8_t* code = nullptr;  // set once the code is mapped
    };
    using EnterFn = uint64_t (*)(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, RunState*);

    Entry* entry_at(uint32_t start);
    static uint64_t invoke_entry(const Callable* self, uint64_t r1, uint64_t r2, uint64_t r3,
                                 uint64_t r4, uint64_t r5);
    void write_perf_map(uint32_t enter, std::span<const std::pair<uint32_t, uint32_t>> subs) const;

    Imports m_imports;
    Options m_options;
    ExecMemory m_memory;
    EnterFn m_enter = nullptr;
    std::deque<Entry> m_entries;  // front() is the main function; stable addresses
};

}  // namespace crib::exec::jit
