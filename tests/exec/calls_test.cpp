// Helper, kfunc, indirect and local calls; callbacks through lddw_func;
// tail calls through a prog_array.
#include <cstring>
#include <memory>

#include "exec/engine_util.hpp"
#include "maps/map.hpp"

namespace crib::exec {
namespace {

using namespace testing;

CRIB_ENGINE_SUITE(Calls);

constexpr int32_t kGather = 0, kNoOp = 2, kUnwind = 5, kLoop = 181;

uint64_t gather(uint64_t a, uint64_t b, uint64_t c, uint64_t d, uint64_t e) {
    return (a & 0xff) << 32 | (b & 0xff) << 24 | (c & 0xff) << 16 | (d & 0xff) << 8 | (e & 0xff);
}
uint64_t no_op(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t) {
    return 0;
}
uint64_t unwind(uint64_t r1, uint64_t, uint64_t, uint64_t, uint64_t) {
    return r1;
}
// bpf_loop(nr_loops, callback, ctx, flags), summing what the callback returns
// so the test sees every call.
uint64_t loop(uint64_t count, uint64_t callback, uint64_t ctx, uint64_t, uint64_t) {
    const auto* fn = reinterpret_cast<const Callable*>(callback);
    uint64_t sum = 0;
    for (uint64_t i = 0; i < count; ++i) sum += fn->invoke(fn, i, ctx, 0, 0, 0);
    return sum;
}
uint64_t kfunc_sub(uint64_t a, uint64_t b, uint64_t, uint64_t, uint64_t) {
    return a - b;
}

Imports imports() {
    Imports out;
    out.helper = [](int32_t id) -> HelperFn {
        switch (id) {
            case kGather:
                return gather;
            case kNoOp:
                return no_op;
            case kUnwind:
                return unwind;
            case kLoop:
                return loop;
            default:
                return nullptr;
        }
    };
    out.kfunc = [](int32_t btf_id, int16_t module) -> HelperFn {
        return btf_id == 1000 && module == 2 ? kfunc_sub : nullptr;
    };
    return out;
}

RunOptions unwinding() {
    RunOptions options;
    options.unwind_helper = kUnwind;
    return options;
}

TEST_P(Calls, HelperGetsFiveArguments) {
    Asm a;
    a.mov(1, 1).mov(2, 2).mov(3, 3).mov(4, 4).mov(5, 5).op(Op::call, 0, 0, 0, kGather).exit();
    EXPECT_EQ(run(a.code, nullptr, imports()), 0x0102030405u);
}

TEST_P(Calls, Kfunc) {
    Asm a;
    a.mov(1, 50).mov(2, 8).op(Op::call_kfunc, 0, 0, 2, 1000).exit();
    EXPECT_EQ(run(a.code, nullptr, imports()), 42u);
}

TEST_P(Calls, CallxTakesTheHelperIdFromDst) {
    Asm a;
    a.mov(1, 1).mov(2, 2).mov(3, 3).mov(4, 4).mov(5, 5).mov(7, kGather).op(Op::callx, 7).exit();
    EXPECT_EQ(run(a.code, nullptr, imports()), 0x0102030405u);
}

TEST_P(Calls, CallxOfUnknownHelperStopsAndLogs) {
    std::string log;
    RunOptions options;
    options.log = [&](LogLevel level, std::string_view line) {
        if (level == LogLevel::Error) log += line;
    };
    Asm a;
    a.mov(0, 7).mov(6, 999).op(Op::callx, 6).exit();
    EXPECT_EQ(run(a.code, nullptr, imports(), options), 0u);
    EXPECT_EQ(log, "insn 2: callx: invalid func unknown#999; program stopped");
}

TEST_P(Calls, UnwindHelperEndsTheProgramWhenItReturnsZero) {
    Asm stop;
    stop.mov(1, 0).op(Op::call, 0, 0, 0, kUnwind).mov(0, 7).exit();
    EXPECT_EQ(run(stop.code, nullptr, imports(), unwinding()), 0u);
    Asm go;
    go.mov(1, 3).op(Op::call, 0, 0, 0, kUnwind).mov(0, 7).exit();
    EXPECT_EQ(run(go.code, nullptr, imports(), unwinding()), 7u);
    // Without the option it is an ordinary helper.
    EXPECT_EQ(run(stop.code, nullptr, imports()), 7u);
}

TEST_P(Calls, UnwindFromASubprogramEndsEverything) {
    Asm a;
    a.op(Op::call_local, 0, 0, 0, 2)
        .mov(0, 7)
        .exit()
        .mov(1, 0)
        .op(Op::call, 0, 0, 0, kUnwind)
        .mov(0, 1)
        .exit();
    EXPECT_EQ(run(a.code, nullptr, imports(), unwinding()), 0u);
    Asm x;  // through callx too
    x.mov(6, kUnwind).mov(1, 0).op(Op::callx, 6).mov(0, 7).exit();
    EXPECT_EQ(run(x.code, nullptr, imports(), unwinding()), 0u);
}

TEST_P(Calls, LocalCallPassesArgumentsAndKeepsCalleeSaved) {
    Asm a;
    a.mov(1, 1).mov(2, 2).mov(3, 3).mov(4, 4).mov(5, 5);
    a.mov(6, 6).mov(7, 7).mov(8, 8).mov(9, 9);
    a.op(Op::call_local, 0, 0, 0, 9);  // pc 9 -> 19
    // Append r6..r9 as decimal digits to the callee's 15.
    for (uint8_t reg = 6; reg <= 9; ++reg)
        a.op(Op::mul64_imm, 0, 0, 0, 10).op(Op::add64_reg, 0, reg);
    a.exit();
    a.mov(0, 0);  // pc 19: the callee sums its arguments and clobbers r6..r9
    for (uint8_t reg = 1; reg <= 5; ++reg) a.op(Op::add64_reg, 0, reg);
    a.mov(6, 0).mov(7, 0).mov(8, 0).mov(9, 0).exit();
    EXPECT_EQ(run(a.code), 156789u);
}

TEST_P(Calls, EachFrameHasItsOwnStack) {
    Asm a;
    a.op(Op::stdw, 10, 0, -8, 1)
        .op(Op::mov64_reg, 6, 10)
        .op(Op::call_local, 0, 0, 0, 4)  // pc 2 -> 7
        .op(Op::sub64_reg, 6, 0)         // main's fp - the callee's
        .op(Op::ldxdw, 0, 10, -8)        // r10 is back, and its slot untouched
        .op(Op::add64_reg, 0, 6)
        .exit()
        .op(Op::stdw, 10, 0, -8, 2)  // pc 7: callee
        .op(Op::mov64_reg, 0, 10)
        .exit();
    EXPECT_EQ(run(a.code), 1u + isa::kStackSize);
}

// n frames: each subprogram calls the next and adds 1 to its result.
std::vector<Insn> call_chain(int frames) {
    Asm a;
    for (int i = 0; i + 1 < frames; ++i)
        a.op(Op::call_local, 0, 0, 0, 2).op(Op::add64_imm, 0, 0, 0, 1).exit();
    return a.mov(0, 0).exit().code;
}

TEST_P(Calls, DepthLimit) {
    EXPECT_EQ(run(call_chain(kMaxCallDepth)), static_cast<uint64_t>(kMaxCallDepth - 1));
    EXPECT_EQ(compile_error(call_chain(kMaxCallDepth + 1)),
              "insn 0: the call stack of 9 frames is too deep");
}

TEST_P(Calls, RecursionIsRefused) {
    Asm a;
    a.op(Op::call_local, 0, 0, 0, 2).mov(0, 0).exit();
    a.op(Op::call_local, 0, 0, 0, -1).exit();  // pc 3 calls itself
    EXPECT_EQ(compile_error(a.code), "insn 3: recursive call from insn 3 to 3");
}

TEST_P(Calls, LddwFuncGivesACallableForCallbacks) {
    Asm a;
    a.mov(1, 10)
        .lddw(2, 4, Op::lddw_func)  // pc 1: 1 + 4 + 1 = 6
        .mov(3, 100)
        .op(Op::call, 0, 0, 0, kLoop)
        .exit()
        .op(Op::mov64_reg, 0, 1)  // pc 6: callback(index, ctx)
        .op(Op::mul64_imm, 0, 0, 0, 2)
        .op(Op::add64_reg, 0, 2)
        .op(Op::stxdw, 10, 0, -8)  // its own stack
        .op(Op::ldxdw, 0, 10, -8)
        .exit();
    EXPECT_EQ(run(a.code, nullptr, imports()), 2u * 45 + 100 * 10);
}

TEST_P(Calls, EntryTakesFiveArguments) {
    Asm a;
    a.op(Op::mov64_reg, 0, 1).op(Op::add64_reg, 0, 2).op(Op::add64_reg, 0, 5).exit();
    auto program = build(a.code);
    ASSERT_TRUE(program);
    const Callable* entry = program->entry();
    EXPECT_EQ(entry->invoke(entry, 3, 4, 0, 0, 100), 107u);
    EXPECT_EQ(program->run(reinterpret_cast<void*>(uintptr_t{9})), 9u);
}

// Tail calls go through a real prog_array from the maps library.
class TailCalls : public EngineTest {
protected:
    void SetUp() override {
        maps::MapSpec spec{maps::MapType::ProgArray, 4, 4, 4, 0, "jmp_table"};
        auto map = maps::create_map(spec);
        ASSERT_TRUE(map) << map.error().to_string();
        m_map = std::move(map).value();
        maps::set_prog_resolver(*m_map, [this](uint32_t fd) -> std::shared_ptr<const void> {
            if (fd >= m_programs.size()) return nullptr;
            return std::shared_ptr<const Program>(m_programs[fd]);
        });
    }

    // Puts a program in the map's slot (fd = its index in m_programs).
    void install(uint32_t slot, const std::vector<Insn>& code) {
        install(slot, build(code, imports()));
    }
    void install(uint32_t slot, std::unique_ptr<Program> program) {
        ASSERT_TRUE(program);
        m_programs.push_back(std::move(program));
        uint32_t fd = static_cast<uint32_t>(m_programs.size() - 1);
        ASSERT_TRUE(m_map->update(&slot, &fd, maps::kAny));
    }

    // r1 kept, then bpf_tail_call(ctx, map, slot); what follows runs when
    // the tail call fails.
    Asm tail_call_to(int32_t slot) {
        Asm a;
        a.lddw(2, reinterpret_cast<uint64_t>(m_map.get())).mov(3, slot);
        a.op(Op::call, 0, 0, 0, kHelperTailCall);
        return a;
    }

    // Counts its runs in the u64 the context points at, tail-calls `slot`,
    // and returns the count once the tail call fails.
    std::vector<Insn> counting_tail_call_to(int32_t slot) {
        Asm a;
        a.op(Op::ldxdw, 0, 1, 0).op(Op::add64_imm, 0, 0, 0, 1).op(Op::stxdw, 1, 0, 0);
        Asm tail = tail_call_to(slot);
        a.code.insert(a.code.end(), tail.code.begin(), tail.code.end());
        a.op(Op::ldxdw, 0, 1, 0).exit();
        return a.code;
    }

    std::vector<std::shared_ptr<Program>> m_programs;
    std::unique_ptr<maps::Map> m_map;
};
INSTANTIATE_TEST_SUITE_P(Engines, TailCalls, ::testing::Values(Engine::Interp, Engine::Jit),
                         [](const auto& info) { return engine_name(info.param); });

TEST_P(TailCalls, TargetRunsWithTheContextAndItsResultIsTheRunsResult) {
    install(1, Asm().op(Op::ldxdw, 0, 1, 0).op(Op::add64_imm, 0, 0, 0, 1).exit().code);
    auto caller = build(tail_call_to(1).mov(0, 99).exit().code, imports());
    uint64_t ctx = 41;
    EXPECT_EQ(caller->run(&ctx), 42u);
}

TEST_P(TailCalls, EmptySlotOrBadIndexFallsThrough) {
    uint64_t ctx = 0;
    EXPECT_EQ(build(tail_call_to(2).mov(0, 99).exit().code, imports())->run(&ctx), 99u);
    EXPECT_EQ(build(tail_call_to(100).mov(0, 98).exit().code, imports())->run(&ctx), 98u);
}

TEST_P(TailCalls, ChainStopsAfterMaxTailCalls) {
    install(0, counting_tail_call_to(0));
    uint64_t ctx = 0;
    EXPECT_EQ(m_programs[0]->run(&ctx), static_cast<uint64_t>(kMaxTailCalls + 1));
    EXPECT_EQ(ctx, static_cast<uint64_t>(kMaxTailCalls + 1));
}

TEST_P(TailCalls, FromASubprogramEndsTheWholeRun) {
    install(3, Asm().mov(0, 5).exit().code);
    Asm a;
    a.op(Op::call_local, 0, 0, 0, 2).mov(0, 7).exit();
    Asm tail = tail_call_to(3);
    a.code.insert(a.code.end(), tail.code.begin(), tail.code.end());
    a.mov(0, 1).exit();
    EXPECT_EQ(build(a.code, imports())->run(nullptr), 5u);
}

// Each engine runs its own programs: a chain that crosses into the other
// engine's goes on there.
TEST_P(TailCalls, IntoTheOtherEnginesProgram) {
    const Engine other = engine() == Engine::Interp ? Engine::Jit : Engine::Interp;
    auto target =
        compile_on(other, Asm().op(Op::ldxdw, 0, 1, 0).op(Op::add64_imm, 0, 0, 0, 2).exit().code,
                   imports(), {});
    ASSERT_TRUE(target) << target.error().to_string();
    install(1, std::move(target).value());
    uint64_t ctx = 40;
    EXPECT_EQ(build(tail_call_to(1).mov(0, 99).exit().code, imports())->run(&ctx), 42u);
}

TEST_P(TailCalls, ChainAcrossEnginesStopsAfterMaxTailCalls) {
    // Slot 0 holds this engine's program, slot 1 the other engine's; each
    // tail-calls the other slot.
    const Engine other = engine() == Engine::Interp ? Engine::Jit : Engine::Interp;
    install(0, counting_tail_call_to(1));
    auto across = compile_on(other, counting_tail_call_to(0), imports(), {});
    ASSERT_TRUE(across) << across.error().to_string();
    install(1, std::move(across).value());
    uint64_t ctx = 0;
    EXPECT_EQ(m_programs[0]->run(&ctx), static_cast<uint64_t>(kMaxTailCalls + 1));
    EXPECT_EQ(ctx, static_cast<uint64_t>(kMaxTailCalls + 1));
}

TEST_P(TailCalls, ThroughCallx) {
    install(1, Asm().mov(0, 5).exit().code);
    Asm a;
    a.lddw(2, reinterpret_cast<uint64_t>(m_map.get())).mov(3, 1).mov(4, kHelperTailCall);
    a.op(Op::callx, 4).mov(0, 1).exit();
    EXPECT_EQ(build(a.code, imports())->run(nullptr), 5u);
}

TEST(TailCallTarget, RefusesMapsOfOtherTypes) {
    maps::MapSpec spec{maps::MapType::Array, 4, 4, 4, 0, "array"};
    auto map = maps::create_map(spec);
    ASSERT_TRUE(map) << map.error().to_string();
    EXPECT_EQ(tail_call_target(map->get(), 0), nullptr);
    EXPECT_EQ(tail_call_target(nullptr, 0), nullptr);
}

}  // namespace
}  // namespace crib::exec
