// The JIT against the interpreter on programs nobody wrote: a fixed-seed
// generator of safe straight-line and forward-branching programs (ALU of
// every width and operation, loads, stores and atomics on the stack,
// conditional and unconditional forward jumps), compared on r0, every
// register and the whole stack.
#include <array>
#include <cstring>
#include <random>

#include "exec/engine_util.hpp"
#include "exec/jit/jit.hpp"

namespace crib::exec {
namespace {

using isa::Kind;
using isa::Op;
using isa::Operation;
using testing::Asm;
using testing::Engine;

// r9 keeps the output buffer; r10 stays the frame pointer.
constexpr uint8_t kOut = 9;
constexpr uint8_t kFirstFree = 0, kLastFree = 8;
constexpr int kStackSlots = isa::kStackSize / 8;
// Output: r0..r8, then the stack.
constexpr size_t kOutWords = 9 + kStackSlots;

class Generator {
public:
    explicit Generator(uint64_t seed) : m_rng(seed) {}

    std::vector<isa::Insn> program() {
        Asm a;
        a.op(Op::mov64_reg, kOut, 1);
        for (int slot = 1; slot <= kStackSlots; ++slot)
            a.op(Op::stdw, 10, 0, static_cast<int16_t>(-8 * slot), imm());
        for (uint8_t reg = kFirstFree; reg <= kLastFree; ++reg) a.lddw(reg, value());
        const size_t body = 1 + m_rng() % 60;
        std::vector<Asm> pieces;
        for (size_t i = 0; i < body; ++i) pieces.push_back(piece());
        // Forward jumps land on a piece boundary or the epilogue.
        std::vector<size_t> starts;
        size_t at = a.size();
        for (const Asm& piece : pieces) {
            starts.push_back(at);
            at += piece.size();
        }
        starts.push_back(at);
        for (size_t i = 0; i < pieces.size(); ++i) {
            Asm& piece = pieces[i];
            isa::Insn& first = piece.code.front();
            if (first.info().kind == Kind::Jump) {
                const size_t target = starts[i + 1 + m_rng() % (pieces.size() - i)];
                const auto off = static_cast<int32_t>(target - starts[i] - 1);
                if (first.op == Op::ja32)
                    first.imm = off;
                else
                    first.off = static_cast<int16_t>(off);
            }
            a.append(piece);
        }
        for (uint8_t reg = 0; reg <= kLastFree; ++reg)
            a.op(Op::stxdw, kOut, reg, static_cast<int16_t>(8 * reg));
        for (int slot = 0; slot < kStackSlots; ++slot) {
            a.op(Op::ldxdw, 1, 10, static_cast<int16_t>(-8 * (slot + 1)));
            a.op(Op::stxdw, kOut, 1, static_cast<int16_t>(8 * (9 + slot)));
        }
        return a.exit().code;
    }

private:
    uint64_t value() {
        static constexpr std::array<uint64_t, 12> kEdges = {0,
                                                            1,
                                                            2,
                                                            ~uint64_t{0},
                                                            0x80000000,
                                                            0x7fffffff,
                                                            0xffffffff,
                                                            0x8000000000000000,
                                                            0x7fffffffffffffff,
                                                            0xffffffff80000000,
                                                            0x100000000,
                                                            63};
        switch (m_rng() % 3) {
            case 0:
                return kEdges[m_rng() % kEdges.size()];
            case 1:
                return m_rng() % 64;
            default:
                return m_rng();
        }
    }
    int32_t imm() { return static_cast<int32_t>(value()); }
    uint8_t reg() {
        return static_cast<uint8_t>(kFirstFree + m_rng() % (kLastFree - kFirstFree + 1));
    }
    // A stack offset for an access of `size` bytes, aligned when asked.
    int16_t stack_off(unsigned size, bool aligned) {
        int off =
            -static_cast<int>(size) - static_cast<int>(m_rng() % (isa::kStackSize - size + 1));
        if (aligned)
            off = -static_cast<int>(size) *
                  (1 + static_cast<int>(m_rng() % (isa::kStackSize / size)));
        return static_cast<int16_t>(off);
    }

    Op op_of(Kind kind) {
        for (;;) {
            const auto op = static_cast<Op>(m_rng() % isa::kOpCount);
            if (isa::info(op).kind == kind) return op;
        }
    }

    Asm piece() {
        Asm a;
        switch (m_rng() % 10) {
            case 0:
            case 1:
            case 2:
            case 3: {
                const Op op = op_of(Kind::Alu);
                return a.op(op, reg(), isa::info(op).uses(isa::Field::Src) ? reg() : 0, 0,
                            isa::info(op).uses(isa::Field::Imm) ? imm() : 0);
            }
            case 4: {
                const Op op = op_of(Kind::Endian);
                return a.op(op, reg(), 0, 0, isa::info(op).selector_value);
            }
            case 5: {
                const Op op = op_of(Kind::Load);
                return a.op(op, reg(), 10, stack_off(isa::info(op).size, false));
            }
            case 6: {
                const Op op = op_of(Kind::Store);
                const isa::OpInfo& row = isa::info(op);
                return a.op(op, 10, row.uses(isa::Field::Src) ? reg() : 0,
                            stack_off(row.size, false), row.uses(isa::Field::Imm) ? imm() : 0);
            }
            case 7: {
                const Op op = op_of(Kind::Atomic);
                return a.op(op, 10, reg(), stack_off(isa::info(op).size, true),
                            isa::info(op).selector_value);
            }
            case 8:
                return a.lddw(reg(), value());
            default: {
                Op op = op_of(Kind::Jump);
                while (op == Op::ja32 && m_rng() % 4) op = op_of(Kind::Jump);
                const isa::OpInfo& row = isa::info(op);
                // The offset is set once the layout is known.
                return a.op(op, row.uses(isa::Field::Dst) ? reg() : 0,
                            row.uses(isa::Field::Src) ? reg() : 0, 0,
                            row.uses(isa::Field::Imm) ? imm() : 0);
            }
        }
    }

    std::mt19937_64 m_rng;
};

struct Outcome {
    uint64_t r0 = 0;
    std::array<uint64_t, kOutWords> out{};
};

Outcome run_on(Engine engine, const std::vector<isa::Insn>& code) {
    auto program = testing::compile_on(engine, code, {}, {});
    EXPECT_TRUE(program) << program.error().to_string();
    Outcome outcome;
    if (program) outcome.r0 = (*program)->run(outcome.out.data());
    return outcome;
}

TEST(Differential, RandomProgramsAgreeWithTheInterpreter) {
    constexpr int kPrograms = 4000;
    Generator generator(0x5eed'c0de);
    int failures = 0;
    for (int i = 0; i < kPrograms && failures < 5; ++i) {
        const std::vector<isa::Insn> code = generator.program();
        const Outcome expected = run_on(Engine::Interp, code);
        const Outcome got = run_on(Engine::Jit, code);
        bool same = expected.r0 == got.r0;
        for (size_t w = 0; w < kOutWords; ++w) {
            if (expected.out[w] == got.out[w]) continue;
            same = false;
            ADD_FAILURE() << "program " << i << ": "
                          << (w < 9 ? "r" + std::to_string(w)
                                    : "stack word " + std::to_string(w - 9))
                          << " interp " << std::hex << expected.out[w] << " jit " << got.out[w];
            break;
        }
        if (!same) {
            ++failures;
            std::string listing;
            for (size_t pc = 0; pc < code.size(); ++pc)
                listing += fmt::format("{:4}: {} dst=r{} src=r{} off={} imm={:#x}\n", pc,
                                       code[pc].info().name, code[pc].dst, code[pc].src,
                                       code[pc].off, code[pc].imm);
            ADD_FAILURE() << "program " << i << " r0 interp " << std::hex << expected.r0 << " jit "
                          << got.r0 << "\n"
                          << listing;
        }
    }
}

}  // namespace
}  // namespace crib::exec
