// The interpreter's Program: pre-decoded slots plus what running them needs.
#pragma once

#include <vector>

#include "exec/engine_program.hpp"
#include "exec/interp/code.hpp"

namespace crib::exec::interp {

class Machine final : public EngineProgram {
public:
    Machine(std::vector<isa::Insn> code, Translation translation, Imports imports, Options options);

private:
    uint64_t run_entry(const Entry& entry, const Args& args, TailCallChain& tail) const override;

    template <bool Trace>
    uint64_t execute(const Slot* start, const Args& args, TailCallChain& tail) const;

    // Out-of-line slow path, kept off the handlers' fast paths.
    [[gnu::noinline]] void trace(size_t pc, const uint64_t* regs) const;

    std::vector<isa::Insn> m_code;
    std::vector<Slot> m_slots;
    Imports m_imports;
    Options m_options;
};

}  // namespace crib::exec::interp
