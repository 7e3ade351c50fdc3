// The JIT's Program: code in W^X pages plus what running it needs.
#pragma once

#include <span>
#include <utility>

#include "exec/engine_program.hpp"
#include "exec/jit/exec_memory.hpp"
#include "exec/jit/jit.hpp"
#include "exec/jit/run_state.hpp"

namespace crib::exec::jit {

struct Translation;

class JitProgram final : public EngineProgram {
public:
    static Result<std::unique_ptr<Program>> create(std::span<const isa::Insn> code,
                                                   const Imports& imports, Options options);

    const Imports& imports() const { return m_imports; }
    const Options& options() const { return m_options; }
    const ExecMemory& memory() const { return m_memory; }

private:
    JitProgram(Imports imports, Options options)
        : m_imports(std::move(imports)), m_options(std::move(options)) {}

    using EnterFn = uint64_t (*)(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t, RunState*);

    // Runs code with r1..r5 through the entry stub.
    uint64_t run_entry(const Entry& entry, const Args& args, TailCallChain& tail) const override;
    void write_perf_map(const Translation& translation) const;

    Imports m_imports;
    Options m_options;
    ExecMemory m_memory;
    EnterFn m_enter = nullptr;
};

}  // namespace crib::exec::jit
