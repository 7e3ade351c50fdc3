// Messages and the walk log. Errors carry the insn in their Loc and end in
// the source line .BTF.ext gives for it, so a refusal points at C code.
#include <filesystem>

#include "isa/disassembler.hpp"
#include "progs/helpers.hpp"
#include "verifier/checker.hpp"

namespace crib::verifier {

Error Checker::error(uint32_t pc, int code, std::string message) {
    if (m_in.source) {
        if (const object::LineInfo* line = m_in.source->line_for(pc)) {
            std::string text = line->source;
            while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.erase(0, 1);
            message +=
                fmt::format(" ({}:{}: {})", std::filesystem::path(line->file).filename().string(),
                            line->line, text);
        }
    }
    log_line(fmt::format("insn {}: {}", pc, message));
    Error failure(code, std::move(message));
    failure.at_insn(pc);
    return failure;
}

void Checker::log_line(std::string line) {
    if (m_opt.log) m_opt.log(LogLevel::Debug, line);
    m_log += line;
    m_log += '\n';
}

std::string Checker::describe_regs(const State& state) const {
    std::string out;
    if (state.frames.empty()) return out;
    const Frame& frame = state.top();
    for (int r = 0; r < isa::kRegisterCount; ++r) {
        if (!frame.regs[r].is_init()) continue;
        if (!out.empty()) out += ' ';
        out += fmt::format("R{}={}", r, describe(frame.regs[r]));
    }
    if (state.frames.size() > 1) out = fmt::format("frame{}: {}", state.frames.size() - 1, out);
    return out;
}

std::string Checker::walk_line(uint32_t pc, const State& before, const State& after,
                               bool alive) const {
    std::string line = fmt::format("{}: {}", pc, disasm(pc));
    if (!alive || after.frames.empty()) return line;
    if (before.frames.size() != after.frames.size()) return line + " ; " + describe_regs(after);
    std::string changed;
    for (int r = 0; r < isa::kRegisterCount; ++r) {
        const RegState& reg = after.top().regs[r];
        if (reg == before.top().regs[r]) continue;
        if (!changed.empty()) changed += ' ';
        changed += fmt::format("R{}={}", r, reg.is_init() ? describe(reg) : "?");
    }
    return changed.empty() ? line : line + " ; " + changed;
}

std::string Checker::helper_name(int32_t id) const {
    const progs::HelperInfo* helper = progs::find_helper(id);
    return helper ? fmt::format("bpf_{}", helper->name) : std::string("unknown");
}

std::string Checker::disasm(uint32_t pc) const {
    isa::DisasmOptions options;
    options.show_opcode = true;
    options.call_name = [this](const isa::Insn& insn, int) -> std::string {
        if (insn.info().operation != isa::Operation::Helper) return {};
        return helper_name(insn.imm);
    };
    return isa::disassemble(m_in.insns[pc], static_cast<int>(pc), options);
}

}  // namespace crib::verifier
