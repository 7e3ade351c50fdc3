#include "exec/jit/jit_program.hpp"

#include <unistd.h>

#include <cstdio>
#include <utility>

#include <fmt/format.h>

#include "exec/interp/interpreter.hpp"
#include "exec/jit/translate.hpp"

namespace crib::exec::jit {

Result<std::unique_ptr<Program>> compile(std::span<const isa::Insn> code, const Imports& imports,
                                         Options options) {
    return JitProgram::create(code, imports, std::move(options));
}

Result<std::unique_ptr<Program>> JitProgram::create(std::span<const isa::Insn> code,
                                                    const Imports& imports, Options options) {
    // Stopgap: the structural checks (layout, jumps, call depth, imports)
    // live in the interpreter's compile; the JIT runs them there so both
    // engines refuse the same programs with the same words. They belong in a
    // shared exec-level pass.
    interp::Options check;
    check.unwind_helper = options.unwind_helper;
    CRIB_TRY(interp::compile(code, imports, check));

    std::unique_ptr<JitProgram> program(new JitProgram(imports, std::move(options)));
    program->entry_at(0);
    TranslateInput input{
        code, program->m_imports, program->m_options,
        [&](uint32_t start) -> const Callable* { return program->entry_at(start); }};
    Translation translation = CRIB_TRY(translate(input));
    program->m_memory = CRIB_TRY(ExecMemory::create(translation.code));

    const uint8_t* base = program->m_memory.data();
    program->m_enter = reinterpret_cast<EnterFn>(const_cast<uint8_t*>(base + translation.enter));
    std::vector<std::pair<uint32_t, uint32_t>> subs;  // start pc, code offset
    for (const auto& sub : translation.subprograms) subs.emplace_back(sub.start, sub.offset);
    for (Entry& entry : program->m_entries)
        for (const auto& [start, offset] : subs)
            if (start == entry.start) entry.code = base + offset;
    if (program->m_options.log)
        program->m_options.log(
            LogLevel::Debug,
            fmt::format("jit: {}: {} instructions, {} bytes of code at {}", program->m_options.name,
                        code.size(), translation.code.size(), fmt::ptr(base)));
    if (program->m_options.perf_map) program->write_perf_map(translation.enter, subs);
    return std::unique_ptr<Program>(std::move(program));
}

JitProgram::Entry* JitProgram::entry_at(uint32_t start) {
    for (Entry& entry : m_entries)
        if (entry.start == start) return &entry;
    m_entries.push_back(Entry{{&JitProgram::invoke_entry}, this, start});
    return &m_entries.back();
}

uint64_t JitProgram::invoke_entry(const Callable* self, uint64_t r1, uint64_t r2, uint64_t r3,
                                  uint64_t r4, uint64_t r5) {
    const auto* entry = static_cast<const Entry*>(self);
    return entry->program->run_from(entry->code, {r1, r2, r3, r4, r5});
}

uint64_t JitProgram::run(const void* ctx) const {
    return run_from(m_entries.front().code, {reinterpret_cast<uint64_t>(ctx), 0, 0, 0, 0});
}

uint64_t JitProgram::run_from(const uint8_t* code, const std::array<uint64_t, 5>& args) const {
    // The BPF stack lives apart from the native one, as in the interpreter:
    // frame n has r10 = top - n * 512, whatever native frames lie between.
    alignas(16) uint8_t stack[kMaxCallDepth * isa::kStackSize];
    RunState state;
    state.stack_top = stack + sizeof stack;
    state.program = this;
    state.target = code;
    std::array<uint64_t, 5> regs = args;
    const JitProgram* program = this;
    for (;;) {
        const uint64_t result =
            program->m_enter(regs[0], regs[1], regs[2], regs[3], regs[4], &state);
        if (!state.next) return result;
        const Program* next = std::exchange(state.next, nullptr);
        // Another engine's program (the interpreter) cannot share this run's count.
        program = dynamic_cast<const JitProgram*>(next);
        if (!program) return next->run(reinterpret_cast<const void*>(state.next_ctx));
        state.program = program;
        state.target = program->m_entries.front().code;
        regs = {state.next_ctx, 0, 0, 0, 0};
    }
}

// perf reads "START SIZE NAME" lines (hex start and size) from
// /tmp/perf-PID.map; one line per subprogram and one for the entry stub.
void JitProgram::write_perf_map(uint32_t enter,
                                std::span<const std::pair<uint32_t, uint32_t>> subs) const {
    const std::string path = fmt::format("/tmp/perf-{}.map", getpid());
    std::FILE* file = std::fopen(path.c_str(), "a");
    if (!file) {
        if (m_options.log)
            m_options.log(LogLevel::Warn, fmt::format("jit: cannot append to {}", path));
        return;
    }
    const auto base = reinterpret_cast<uintptr_t>(m_memory.data());
    const uint32_t first =
        subs.empty() ? static_cast<uint32_t>(m_memory.size()) : subs.front().second;
    std::string lines =
        fmt::format("{:x} {:x} crib:{}[enter]\n", base + enter, first - enter, m_options.name);
    for (size_t i = 0; i < subs.size(); ++i) {
        const uint32_t end =
            i + 1 < subs.size() ? subs[i + 1].second : static_cast<uint32_t>(m_memory.size());
        const std::string name = subs[i].first == 0
                                     ? m_options.name
                                     : fmt::format("{}[sub@{}]", m_options.name, subs[i].first);
        lines +=
            fmt::format("{:x} {:x} crib:{}\n", base + subs[i].second, end - subs[i].second, name);
    }
    std::fputs(lines.c_str(), file);
    std::fclose(file);
}

SlowResult slow_tail_call(RunState* state) {
    if (state->tail_calls >= kMaxTailCalls) return {state->regs[0], 0};
    const Program* target =
        tail_call_target(reinterpret_cast<void*>(state->regs[2]), state->regs[3]);
    if (!target) return {state->regs[0], 0};
    ++state->tail_calls;
    state->next = target;
    state->next_ctx = state->regs[1];
    return {0, 1};
}

SlowResult slow_callx(RunState* state, int64_t helper_id, uint64_t pc) {
    const auto id = static_cast<int32_t>(helper_id);
    if (id == kHelperTailCall) return slow_tail_call(state);
    const JitProgram& program = *state->program;
    HelperFn fn = program.imports().helper ? program.imports().helper(id) : nullptr;
    if (!fn) {
        if (program.options().log)
            program.options().log(
                LogLevel::Error,
                fmt::format("insn {}: callx: invalid func unknown#{}; program stopped", pc, id));
        return {0, 1};
    }
    const uint64_t* r = state->regs;
    const uint64_t r0 = fn(r[1], r[2], r[3], r[4], r[5]);
    if (r0 == 0 && program.options().unwind_helper == id) return {0, 1};
    return {r0, 0};
}

}  // namespace crib::exec::jit
