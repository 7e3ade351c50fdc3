#include "exec/interp/machine.hpp"

namespace crib::exec::interp {

Machine::Machine(std::vector<isa::Insn> code, Translation translation, Imports imports,
                 Options options)
    : m_code(std::move(code)),
      m_slots(std::move(translation.slots)),
      m_imports(std::move(imports)),
      m_options(std::move(options)) {
    for (const FuncLoad& load : translation.func_loads)
        m_slots[load.slot].imm = static_cast<int64_t>(
            reinterpret_cast<uintptr_t>(static_cast<const Callable*>(&entry_at(load.target))));
    for (Entry& entry : entries()) entry.code = &m_slots[entry.start];
}

uint64_t Machine::run_entry(const Entry& entry, const Args& args, TailCallChain& tail) const {
    const auto* start = static_cast<const Slot*>(entry.code);
    return m_options.trace ? execute<true>(start, args, tail) : execute<false>(start, args, tail);
}

Result<std::unique_ptr<Program>> compile(std::span<const isa::Insn> code, const Imports& imports,
                                         Options options) {
    Translation translation = CRIB_TRY(translate(code, imports, options));
    std::unique_ptr<Program> program =
        std::make_unique<Machine>(std::vector<isa::Insn>(code.begin(), code.end()),
                                  std::move(translation), imports, std::move(options));
    return program;
}

}  // namespace crib::exec::interp
