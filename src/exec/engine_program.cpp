#include "exec/engine_program.hpp"

#include <utility>

namespace crib::exec {

EngineProgram::EngineProgram() {
    entry_at(0);
}

EngineProgram::Entry& EngineProgram::entry_at(uint32_t start) {
    for (Entry& entry : m_entries)
        if (entry.start == start) return entry;
    m_entries.push_back(Entry{{&EngineProgram::invoke}, this, start});
    return m_entries.back();
}

uint64_t EngineProgram::invoke(const Callable* self, uint64_t r1, uint64_t r2, uint64_t r3,
                               uint64_t r4, uint64_t r5) {
    const auto* entry = static_cast<const Entry*>(self);
    return entry->program->run_from(*entry, {r1, r2, r3, r4, r5});
}

uint64_t EngineProgram::run(const void* ctx) const {
    return run_from(m_entries.front(), {reinterpret_cast<uint64_t>(ctx), 0, 0, 0, 0});
}

uint64_t EngineProgram::run_from(const Entry& entry, const Args& args) const {
    TailCallChain tail;
    const EngineProgram* program = this;
    const Entry* from = &entry;
    Args regs = args;
    for (;;) {
        const uint64_t result = program->run_entry(*from, regs, tail);
        if (!tail.next) return result;
        const Program* next = std::exchange(tail.next, nullptr);
        // Programs of either engine continue in this loop, so one count
        // bounds a chain that crosses engines (the runtime falls back to the
        // interpreter per program). Only a Program from outside the engines
        // runs on its own.
        program = dynamic_cast<const EngineProgram*>(next);
        if (!program) return next->run(reinterpret_cast<const void*>(tail.next_ctx));
        from = &program->m_entries.front();
        regs = {tail.next_ctx, 0, 0, 0, 0};
    }
}

}  // namespace crib::exec
