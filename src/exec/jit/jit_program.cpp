#include "exec/jit/jit_program.hpp"

#include <unistd.h>

#include <cstdio>
#include <utility>

#include <fmt/format.h>

#include "exec/jit/translate.hpp"
#include "exec/resolve.hpp"
#include "exec/structure.hpp"

namespace crib::exec::jit {

Result<std::unique_ptr<Program>> compile(std::span<const isa::Insn> code, const Imports& imports,
                                         Options options) {
    return JitProgram::create(code, imports, std::move(options));
}

Result<std::unique_ptr<Program>> JitProgram::create(std::span<const isa::Insn> code,
                                                    const Imports& imports, Options options) {
    const Structure structure = CRIB_TRY(check_structure(code));
    std::unique_ptr<JitProgram> program(new JitProgram(imports, std::move(options)));
    TranslateInput input{
        code, structure, program->m_imports, program->m_options,
        [&](uint32_t start) -> const Callable* { return &program->entry_at(start); }};
    Translation translation = CRIB_TRY(translate(input));
    program->m_memory = CRIB_TRY(ExecMemory::create(translation.code));

    const uint8_t* base = program->m_memory.data();
    program->m_enter = reinterpret_cast<EnterFn>(const_cast<uint8_t*>(base + translation.enter));
    for (Entry& entry : program->entries())
        entry.code = base + translation.subprograms[structure.owner[entry.start]].offset;
    if (program->m_options.log)
        program->m_options.log(
            LogLevel::Debug,
            fmt::format("jit: {}: {} instructions, {} bytes of code at {}", program->m_options.name,
                        code.size(), translation.code.size(), fmt::ptr(base)));
    if (program->m_options.perf_map) program->write_perf_map(translation);
    return std::unique_ptr<Program>(std::move(program));
}

uint64_t JitProgram::run_entry(const Entry& entry, const Args& args, TailCallChain& tail) const {
    // The BPF stack lives apart from the native one, as in the interpreter:
    // frame n has r10 = top - n * 512, whatever native frames lie between.
    alignas(16) uint8_t stack[kMaxCallDepth * isa::kStackSize];
    RunState state;
    state.stack_top = stack + sizeof stack;
    state.program = this;
    state.tail = &tail;
    state.target = static_cast<const uint8_t*>(entry.code);
    return m_enter(args[0], args[1], args[2], args[3], args[4], &state);
}

// perf reads "START SIZE NAME" lines (hex start and size) from
// /tmp/perf-PID.map; one line per subprogram and one for the entry stub.
void JitProgram::write_perf_map(const Translation& translation) const {
    const std::string path = fmt::format("/tmp/perf-{}.map", getpid());
    std::FILE* file = std::fopen(path.c_str(), "a");
    if (!file) {
        if (m_options.log)
            m_options.log(LogLevel::Warn, fmt::format("jit: cannot append to {}", path));
        return;
    }
    const auto base = reinterpret_cast<uintptr_t>(m_memory.data());
    const auto size = static_cast<uint32_t>(m_memory.size());
    const auto& subs = translation.subprograms;
    const uint32_t enter = translation.enter;
    const uint32_t first = subs.empty() ? size : subs.front().offset;
    std::string lines =
        fmt::format("{:x} {:x} crib:{}[enter]\n", base + enter, first - enter, m_options.name);
    for (size_t i = 0; i < subs.size(); ++i) {
        const uint32_t end = i + 1 < subs.size() ? subs[i + 1].offset : size;
        const std::string name = subs[i].start == 0
                                     ? m_options.name
                                     : fmt::format("{}[sub@{}]", m_options.name, subs[i].start);
        lines +=
            fmt::format("{:x} {:x} crib:{}\n", base + subs[i].offset, end - subs[i].offset, name);
    }
    std::fputs(lines.c_str(), file);
    std::fclose(file);
}

SlowResult slow_tail_call(RunState* state) {
    if (!state->tail->take(state->regs)) return {state->regs[0], 0};
    return {0, 1};
}

SlowResult slow_callx(RunState* state, int64_t helper_id, uint64_t pc) {
    const auto id = static_cast<int32_t>(helper_id);
    if (id == kHelperTailCall) return slow_tail_call(state);
    const JitProgram& program = *state->program;
    HelperFn fn = resolve_callx(program.imports(), id, pc, program.options().log);
    if (!fn) return {0, 1};
    const uint64_t* r = state->regs;
    const uint64_t r0 = fn(r[1], r[2], r[3], r[4], r[5]);
    if (r0 == 0 && program.options().unwind_helper == id) return {0, 1};
    return {r0, 0};
}

}  // namespace crib::exec::jit
