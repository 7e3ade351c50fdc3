#include "exec/interp/machine.hpp"

namespace crib::exec::interp {

Machine::Machine(std::vector<isa::Insn> code, Translation translation, Imports imports,
                 Options options)
    : m_code(std::move(code)),
      m_slots(std::move(translation.slots)),
      m_imports(std::move(imports)),
      m_options(std::move(options)) {
    entry_at(0);
    for (const FuncLoad& load : translation.func_loads)
        m_slots[load.slot].imm = static_cast<int64_t>(
            reinterpret_cast<uintptr_t>(static_cast<const Callable*>(entry_at(load.target))));
}

uint64_t Machine::run(const void* ctx) const {
    return run_from(0, {reinterpret_cast<uint64_t>(ctx), 0, 0, 0, 0});
}

const Machine::Entry* Machine::entry_at(uint32_t start) {
    for (const Entry& entry : m_entries)
        if (entry.start == start) return &entry;
    m_entries.push_back(Entry{{&Machine::invoke_entry}, this, start});
    return &m_entries.back();
}

uint64_t Machine::invoke_entry(const Callable* self, uint64_t r1, uint64_t r2, uint64_t r3,
                               uint64_t r4, uint64_t r5) {
    const auto* entry = static_cast<const Entry*>(self);
    return entry->machine->run_from(entry->start, {r1, r2, r3, r4, r5});
}

Result<std::unique_ptr<Program>> compile(std::span<const isa::Insn> code, const Imports& imports,
                                         Options options) {
    Translation translation = CRIB_TRY(translate(code, imports, options));
    std::unique_ptr<Program> program = std::make_unique<Machine>(
        std::vector<isa::Insn>(code.begin(), code.end()), std::move(translation), imports,
        std::move(options));
    return program;
}

}  // namespace crib::exec::interp
