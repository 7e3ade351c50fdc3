// The translator: decoded instructions to assembler calls, dispatching on
// the ISA table's Kind and Operation. -Wswitch is an error here, so a Kind
// or Operation without a case fails to compile.
#pragma GCC diagnostic error "-Wswitch"

#include <array>

#include "exec/jit/run_state.hpp"
#include "exec/jit/translate.hpp"
#include "exec/jit/x86_assembler.hpp"
#include "exec/resolve.hpp"

namespace crib::exec::jit {
namespace {

using isa::Insn;
using isa::Kind;
using isa::Op;
using isa::Operation;

constexpr std::array<Reg, isa::kRegisterCount> kRegs = {
    Reg::rax, Reg::rdi, Reg::rsi, Reg::rdx, Reg::rcx, Reg::r8,
    Reg::rbx, Reg::r13, Reg::r14, Reg::r15, Reg::rbp,
};
constexpr Reg kState = Reg::r12;
constexpr Reg kScratch = Reg::r11;  // also call targets
constexpr Reg kScratch1 = Reg::r10;
constexpr Reg kScratch2 = Reg::r9;
// BPF registers a subprogram must give back to its caller. r10 is moved by
// the caller around the call, so a callee saves it only if it writes it.
constexpr std::array<uint8_t, 5> kPreserved = {6, 7, 8, 9, isa::kFramePointer};
// A jump whose distance, measured from its start with every jump near,
// falls in this range still reaches in rel8 once jumps shrink.
constexpr int64_t kShortMin = -126, kShortMax = 127;

Width width_of_bytes(unsigned bytes) {
    switch (bytes) {
        case 1:
            return Width::W8;
        case 2:
            return Width::W16;
        case 4:
            return Width::W32;
        default:
            return Width::W64;
    }
}

Width width_of(const Insn& insn) {
    return insn.info().width == 32 ? Width::W32 : Width::W64;
}

bool mentions(const Insn& insn, uint8_t reg) {
    return (insn.info().uses(isa::Field::Dst) && insn.dst == reg) ||
           (insn.info().uses(isa::Field::Src) && insn.src == reg);
}

// Where a jump, call or function load that check_structure accepted points.
size_t checked_target(const Insn& insn, size_t pc) {
    return static_cast<size_t>(*target_of(insn, pc));
}

Cond condition_of(Operation operation) {
    switch (operation) {
        case Operation::Jeq:
            return Cond::Equal;
        case Operation::Jne:
        case Operation::Jset:
            return Cond::NotEqual;
        case Operation::Jgt:
            return Cond::Above;
        case Operation::Jge:
            return Cond::AboveOrEqual;
        case Operation::Jlt:
            return Cond::Below;
        case Operation::Jle:
            return Cond::BelowOrEqual;
        case Operation::Jsgt:
            return Cond::Greater;
        case Operation::Jsge:
            return Cond::GreaterOrEqual;
        case Operation::Jslt:
            return Cond::Less;
        case Operation::Jsle:
            return Cond::LessOrEqual;
        default:
            return Cond::Equal;  // unreachable: only conditional jumps ask
    }
}

struct Frame {
    std::vector<Reg> saved;  // pushed in this order
    int32_t reserve = 0;     // bytes below the pushes that align rsp for calls
};

class Translator {
public:
    // `short_jumps` holds, per pc, whether its jump may be emitted short;
    // null emits every jump near (the first pass).
    Translator(const TranslateInput& input, const std::vector<bool>* short_jumps)
        : m_in(input), m_code(input.code), m_structure(input.structure), m_short(short_jumps) {}

    Result<Translation> run();
    // Per pc, the distance from the jump's start to its target (pass one).
    std::vector<bool> short_plan() const;

private:
    Frame frame_of(size_t sub) const;
    void emit_enter_stub();
    void emit_prologue(const Frame& frame);
    void emit_epilogue(const Frame& frame);
    Result<void> emit(size_t pc, const Frame& frame);

    void emit_alu(const Insn& insn);
    void emit_shift(ShiftOp op, Width width, Reg dst, const Insn& insn);
    void emit_division(Operation operation, Width width, Reg dst, const Insn& insn);
    void emit_endian(const Insn& insn);
    void emit_jump(size_t pc, const Insn& insn);
    void emit_atomic(const Insn& insn);
    Result<void> emit_call(size_t pc, const Insn& insn);
    void emit_native_call(const void* fn);
    void emit_slow_call(const void* fn);
    void move(Reg dst, Reg src) {
        if (dst != src) m_as.mov(Width::W64, dst, src);
    }
    bool is_short(size_t pc) const { return m_short && (*m_short)[pc]; }

    const TranslateInput& m_in;
    std::span<const Insn> m_code;
    const Structure& m_structure;
    const std::vector<bool>* m_short;
    Assembler m_as;
    std::vector<Label> m_insn_labels;
    std::vector<Label> m_sub_labels;
    std::vector<int64_t> m_jump_at;  // position of each pc's jump opcode
    Label m_unwind{};
    Label m_after_call{};
};

Frame Translator::frame_of(size_t sub) const {
    const size_t begin = m_structure.starts[sub];
    const size_t end = m_structure.end_of(sub);
    Frame frame;
    // The entry stub saved everything for the main function.
    for (uint8_t reg : kPreserved) {
        bool used = false;
        for (size_t pc = begin; pc < end && !used; ++pc)
            used = reg == isa::kFramePointer ? m_code[pc].dst == reg : mentions(m_code[pc], reg);
        if (used && sub != 0) frame.saved.push_back(kRegs[reg]);
    }
    // The call that entered left rsp 8 below a 16-byte boundary.
    frame.reserve = frame.saved.size() % 2 == 1 ? 0 : 8;
    return frame;
}

void Translator::emit_enter_stub() {
    constexpr std::array<Reg, 6> kCalleeSaved = {Reg::rbp, Reg::rbx, Reg::r12,
                                                 Reg::r13, Reg::r14, Reg::r15};
    for (Reg reg : kCalleeSaved) m_as.push(reg);
    m_as.alu_imm(AluOp::Sub, Width::W64, Reg::rsp, 8);  // six pushes + 8: aligned
    m_as.mov(Width::W64, kState, Reg::r9);              // the sixth argument
    m_as.store(Width::W64, Mem{kState, kStateUnwindRsp}, Reg::rsp);
    m_as.load(Width::W64, kRegs[isa::kFramePointer], Mem{kState, kStateStackTop});
    m_as.load(Width::W64, kScratch, Mem{kState, kStateTarget});
    m_as.call(kScratch);
    m_as.bind(m_after_call);
    m_as.alu_imm(AluOp::Add, Width::W64, Reg::rsp, 8);
    for (auto reg = kCalleeSaved.rbegin(); reg != kCalleeSaved.rend(); ++reg) m_as.pop(*reg);
    m_as.ret();
    // Tail calls, the unwind helper and a failed callx end the whole run
    // from any depth: drop every frame and return 0 through the stub.
    m_as.bind(m_unwind);
    m_as.load(Width::W64, Reg::rsp, Mem{kState, kStateUnwindRsp});
    m_as.alu(AluOp::Xor, Width::W32, Reg::rax, Reg::rax);
    m_as.jmp(m_after_call);
}

void Translator::emit_prologue(const Frame& frame) {
    for (Reg reg : frame.saved) m_as.push(reg);
    if (frame.reserve) m_as.alu_imm(AluOp::Sub, Width::W64, Reg::rsp, frame.reserve);
}

void Translator::emit_epilogue(const Frame& frame) {
    if (frame.reserve) m_as.alu_imm(AluOp::Add, Width::W64, Reg::rsp, frame.reserve);
    for (auto reg = frame.saved.rbegin(); reg != frame.saved.rend(); ++reg) m_as.pop(*reg);
    m_as.ret();
}

Result<Translation> Translator::run() {
    const size_t subs = m_structure.subprogram_count();
    for (size_t pc = 0; pc < m_code.size(); ++pc) m_insn_labels.push_back(m_as.new_label());
    for (size_t sub = 0; sub < subs; ++sub) m_sub_labels.push_back(m_as.new_label());
    m_jump_at.assign(m_code.size(), -1);
    m_unwind = m_as.new_label();
    m_after_call = m_as.new_label();

    Translation out;
    out.enter = static_cast<uint32_t>(m_as.size());
    emit_enter_stub();
    for (size_t sub = 0; sub < subs; ++sub) {
        const Frame frame = frame_of(sub);
        const uint32_t start = m_structure.starts[sub];
        m_as.bind(m_sub_labels[sub]);
        out.subprograms.push_back({start, static_cast<uint32_t>(m_as.size())});
        emit_prologue(frame);
        for (size_t pc = start; pc < m_structure.end_of(sub); ++pc) {
            m_as.bind(m_insn_labels[pc]);
            if (auto ok = emit(pc, frame); !ok)
                return std::move(ok.error().at_insn(static_cast<int64_t>(pc)));
        }
    }
    out.code = CRIB_TRY(m_as.finish());
    return out;
}

std::vector<bool> Translator::short_plan() const {
    std::vector<bool> plan(m_code.size(), false);
    for (size_t pc = 0; pc < m_code.size(); ++pc) {
        if (m_jump_at[pc] < 0) continue;
        const int64_t target = m_as.position(m_insn_labels[checked_target(m_code[pc], pc)]);
        const int64_t distance = target - m_jump_at[pc];
        plan[pc] = distance >= kShortMin && distance <= kShortMax;
    }
    return plan;
}

Result<void> Translator::emit(size_t pc, const Frame& frame) {
    const Insn& insn = m_code[pc];
    const Reg dst = kRegs[insn.dst];
    switch (insn.info().kind) {
        case Kind::Alu:
            emit_alu(insn);
            break;
        case Kind::Endian:
            emit_endian(insn);
            break;
        case Kind::Jump:
            emit_jump(pc, insn);
            break;
        case Kind::Load:
            m_as.load(width_of_bytes(insn.info().size), dst, Mem{kRegs[insn.src], insn.off},
                      insn.info().operation == Operation::LoadSx);
            break;
        case Kind::Store:
            if (insn.info().operation == Operation::StoreReg)
                m_as.store(width_of_bytes(insn.info().size), Mem{dst, insn.off}, kRegs[insn.src]);
            else
                m_as.store_imm(width_of_bytes(insn.info().size), Mem{dst, insn.off}, insn.imm);
            break;
        case Kind::Atomic:
            emit_atomic(insn);
            break;
        case Kind::Lddw:
            if (insn.op == Op::lddw_func) {
                const auto start = static_cast<uint32_t>(checked_target(insn, pc));
                m_as.mov_imm64(dst, reinterpret_cast<uintptr_t>(m_in.callable(start)));
            } else if (insn.op == Op::lddw) {
                m_as.mov_imm64(dst, insn.imm64);
            } else {
                return unresolved_lddw(insn);
            }
            break;
        case Kind::LddwTail:
            break;
        case Kind::Call:
            CRIB_TRY(emit_call(pc, insn));
            break;
        case Kind::Exit:
            emit_epilogue(frame);
            break;
    }
    return {};
}

void Translator::emit_alu(const Insn& insn) {
    const Width width = width_of(insn);
    const Reg dst = kRegs[insn.dst];
    const Reg src = kRegs[insn.src];
    const bool reg = insn.info().source_is_reg();
    auto arithmetic = [&](AluOp op) {
        if (reg)
            m_as.alu(op, width, dst, src);
        else
            m_as.alu_imm(op, width, dst, insn.imm);
    };
    switch (insn.info().operation) {
        case Operation::Add:
            arithmetic(AluOp::Add);
            break;
        case Operation::Sub:
            arithmetic(AluOp::Sub);
            break;
        case Operation::Or:
            arithmetic(AluOp::Or);
            break;
        case Operation::And:
            arithmetic(AluOp::And);
            break;
        case Operation::Xor:
            arithmetic(AluOp::Xor);
            break;
        case Operation::Mul:
            if (reg)
                m_as.imul(width, dst, src);
            else
                m_as.imul_imm(width, dst, dst, insn.imm);
            break;
        case Operation::Mov:
            if (reg && (width == Width::W32 || dst != src))
                m_as.mov(width, dst, src);  // the 32-bit form zero-extends even onto itself
            else if (!reg && width == Width::W64)
                m_as.mov_imm64(dst, static_cast<uint64_t>(static_cast<int64_t>(insn.imm)));
            else if (!reg)
                m_as.mov_imm(Width::W32, dst, insn.imm);
            break;
        case Operation::Movsx:
            m_as.movsx(width_of_bytes(insn.info().size), width, dst, src);
            break;
        case Operation::Neg:
            m_as.neg(width, dst);
            break;
        case Operation::Lsh:
            emit_shift(ShiftOp::Shl, width, dst, insn);
            break;
        case Operation::Rsh:
            emit_shift(ShiftOp::Shr, width, dst, insn);
            break;
        case Operation::Arsh:
            emit_shift(ShiftOp::Sar, width, dst, insn);
            break;
        case Operation::Div:
        case Operation::Sdiv:
        case Operation::Mod:
        case Operation::Smod:
            emit_division(insn.info().operation, width, dst, insn);
            break;
        default:
            break;  // not an ALU operation
    }
}

// x86 masks shift counts to the operand width as BPF does, but a count in a
// register must be in cl, which is BPF r4's register.
void Translator::emit_shift(ShiftOp op, Width width, Reg dst, const Insn& insn) {
    const uint8_t mask = width == Width::W64 ? 63 : 31;
    if (!insn.info().source_is_reg()) {
        const auto count = static_cast<uint8_t>(insn.imm & mask);
        if (count)
            m_as.shift_imm(op, width, dst, count);
        else if (width == Width::W32)
            m_as.mov(Width::W32, dst, dst);  // a zero shift writes nothing: zero-extend
        return;
    }
    const Reg src = kRegs[insn.src];
    if (src == Reg::rcx) {
        m_as.shift_cl(op, width, dst);
    } else if (dst == Reg::rcx) {
        m_as.mov(Width::W64, kScratch, Reg::rcx);
        m_as.mov(Width::W64, Reg::rcx, src);
        m_as.shift_cl(op, width, kScratch);
        m_as.mov(Width::W64, Reg::rcx, kScratch);
    } else {
        m_as.mov(Width::W64, kScratch, Reg::rcx);
        m_as.mov(Width::W64, Reg::rcx, src);
        m_as.shift_cl(op, width, dst);
        m_as.mov(Width::W64, Reg::rcx, kScratch);
    }
    // A count of zero leaves the register as it was, upper half included.
    if (width == Width::W32) m_as.mov(Width::W32, dst, dst);
}

// x86 division traps on a zero divisor and on INT_MIN / -1 and works in
// rdx:rax (BPF r3 and r0); BPF division never traps. The operands move to
// scratch registers, the special divisors get their RFC 9669 results, and
// r0/r3 are restored unless they are the destination.
void Translator::emit_division(Operation operation, Width width, Reg dst, const Insn& insn) {
    const bool is_signed = operation == Operation::Sdiv || operation == Operation::Smod;
    const bool quotient = operation == Operation::Div || operation == Operation::Sdiv;
    const bool reg = insn.info().source_is_reg();
    const bool may_be_zero = reg || insn.imm == 0;
    const bool may_be_minus_one = is_signed && (reg || insn.imm == -1);

    const Reg divisor = kScratch, saved_r0 = kScratch1, saved_r3 = kScratch2;
    if (reg)
        m_as.mov(Width::W64, divisor, kRegs[insn.src]);
    else
        m_as.mov_imm64(divisor, static_cast<uint64_t>(static_cast<int64_t>(insn.imm)));
    m_as.mov(Width::W64, saved_r0, Reg::rax);
    m_as.mov(Width::W64, saved_r3, Reg::rdx);
    move(Reg::rax, dst);

    const Label done = m_as.new_label(), zero = m_as.new_label(), ordinary = m_as.new_label();
    if (may_be_zero) {
        m_as.test(width, divisor, divisor);
        m_as.jcc(Cond::Equal, zero, true);
    }
    if (may_be_minus_one) {
        m_as.alu_imm(AluOp::Cmp, width, divisor, -1);
        m_as.jcc(Cond::NotEqual, ordinary, true);
        if (quotient)
            m_as.neg(width, Reg::rax);  // INT_MIN stays INT_MIN
        else
            m_as.alu(AluOp::Xor, Width::W32, Reg::rdx, Reg::rdx);
        m_as.jmp(done, true);
    }
    m_as.bind(ordinary);
    if (is_signed) {
        m_as.sign_extend_accumulator(width);
        m_as.idiv(width, divisor);
    } else {
        m_as.alu(AluOp::Xor, Width::W32, Reg::rdx, Reg::rdx);
        m_as.div(width, divisor);
    }
    if (may_be_zero) {
        m_as.jmp(done, true);
        m_as.bind(zero);
        if (quotient)
            m_as.alu(AluOp::Xor, Width::W32, Reg::rax, Reg::rax);
        else
            m_as.mov(width, Reg::rdx, Reg::rax);  // the dividend, zero-extended
    }
    m_as.bind(done);
    m_as.mov(width, divisor, quotient ? Reg::rax : Reg::rdx);
    m_as.mov(Width::W64, Reg::rax, saved_r0);
    m_as.mov(Width::W64, Reg::rdx, saved_r3);
    m_as.mov(Width::W64, dst, divisor);
}

// The host is little-endian: "to le" truncates, "to be" and bswap swap.
void Translator::emit_endian(const Insn& insn) {
    const Reg dst = kRegs[insn.dst];
    const bool swap = insn.info().operation != Operation::ToLe;
    switch (insn.info().size) {
        case 2:
            if (swap) m_as.shift_imm(ShiftOp::Rol, Width::W16, dst, 8);
            m_as.movzx(Width::W16, dst, dst);
            break;
        case 4:
            if (swap)
                m_as.bswap(Width::W32, dst);
            else
                m_as.mov(Width::W32, dst, dst);
            break;
        default:
            if (swap) m_as.bswap(Width::W64, dst);
            break;
    }
}

void Translator::emit_jump(size_t pc, const Insn& insn) {
    const Label target = m_insn_labels[checked_target(insn, pc)];
    const Operation operation = insn.info().operation;
    if (operation == Operation::Ja) {
        m_jump_at[pc] = static_cast<int64_t>(m_as.size());
        m_as.jmp(target, is_short(pc));
        return;
    }
    const Width width = width_of(insn);
    const Reg dst = kRegs[insn.dst];
    const bool reg = insn.info().source_is_reg();
    if (operation == Operation::Jset) {
        if (reg)
            m_as.test(width, dst, kRegs[insn.src]);
        else
            m_as.test_imm(width, dst, insn.imm);
    } else if (reg) {
        m_as.alu(AluOp::Cmp, width, dst, kRegs[insn.src]);
    } else if (insn.imm == 0) {
        m_as.test(width, dst, dst);  // same flags for every condition used here
    } else {
        m_as.alu_imm(AluOp::Cmp, width, dst, insn.imm);
    }
    m_jump_at[pc] = static_cast<int64_t>(m_as.size());
    m_as.jcc(condition_of(operation), target, is_short(pc));
}

// Plain x86 atomics where one exists; fetch-and/or/xor have none, so they
// loop on cmpxchg, which needs rax (BPF r0) as its comparand.
void Translator::emit_atomic(const Insn& insn) {
    const Width width = width_of(insn);
    const Mem mem{kRegs[insn.dst], insn.off};
    const Reg src = kRegs[insn.src];
    auto fetch_loop = [&](AluOp op) {
        const Reg address = kScratch, saved_r0 = kScratch1, next = kScratch2;
        m_as.lea(address, mem);
        m_as.mov(Width::W64, saved_r0, Reg::rax);
        const Reg operand = src == Reg::rax ? saved_r0 : src;
        m_as.load(width, Reg::rax, Mem{address, 0});
        const Label retry = m_as.new_label();
        m_as.bind(retry);
        m_as.mov(Width::W64, next, Reg::rax);
        m_as.alu(op, width, next, operand);
        m_as.lock_cmpxchg(width, Mem{address, 0}, next);
        m_as.jcc(Cond::NotEqual, retry, true);
        m_as.mov(width, next, Reg::rax);
        m_as.mov(Width::W64, Reg::rax, saved_r0);
        m_as.mov(Width::W64, src, next);
    };
    switch (insn.info().operation) {
        case Operation::AtomicAdd:
            m_as.lock_alu(AluOp::Add, width, mem, src);
            break;
        case Operation::AtomicOr:
            m_as.lock_alu(AluOp::Or, width, mem, src);
            break;
        case Operation::AtomicAnd:
            m_as.lock_alu(AluOp::And, width, mem, src);
            break;
        case Operation::AtomicXor:
            m_as.lock_alu(AluOp::Xor, width, mem, src);
            break;
        case Operation::FetchAdd:
            m_as.lock_xadd(width, mem, src);
            break;
        case Operation::FetchOr:
            fetch_loop(AluOp::Or);
            break;
        case Operation::FetchAnd:
            fetch_loop(AluOp::And);
            break;
        case Operation::FetchXor:
            fetch_loop(AluOp::Xor);
            break;
        case Operation::Xchg:
            m_as.xchg(width, mem, src);
            break;
        case Operation::Cmpxchg:
            m_as.lock_cmpxchg(width, mem, src);
            // r0 gets the old value zero-extended whether or not it stored.
            if (width == Width::W32) m_as.mov(Width::W32, Reg::rax, Reg::rax);
            break;
        default:
            break;  // not an atomic operation
    }
}

// r1..r5 are already the SysV argument registers and r0 the return one.
void Translator::emit_native_call(const void* fn) {
    m_as.mov_imm64(kScratch, reinterpret_cast<uintptr_t>(fn));
    m_as.call(kScratch);
}

// Slow paths take the RunState with r0..r5 spilled into it, and give back
// r0 and whether to end the run; r1..r5 come back as they were, as the
// interpreter leaves them.
void Translator::emit_slow_call(const void* fn) {
    m_as.mov(Width::W64, Reg::rdi, kState);
    emit_native_call(fn);
    m_as.test(Width::W64, Reg::rdx, Reg::rdx);
    m_as.jcc(Cond::NotEqual, m_unwind);
    for (uint8_t reg = 1; reg <= 5; ++reg)
        m_as.load(Width::W64, kRegs[reg], Mem{kState, kStateRegs + 8 * reg});
}

Result<void> Translator::emit_call(size_t pc, const Insn& insn) {
    auto spill = [&] {
        for (uint8_t reg = 0; reg <= 5; ++reg)
            m_as.store(Width::W64, Mem{kState, kStateRegs + 8 * reg}, kRegs[reg]);
    };
    switch (insn.info().operation) {
        case Operation::Helper: {
            if (insn.imm == kHelperTailCall) {
                spill();
                emit_slow_call(reinterpret_cast<const void*>(&slow_tail_call));
                break;
            }
            HelperFn fn = CRIB_TRY(resolve_call(insn, m_in.imports));
            emit_native_call(reinterpret_cast<const void*>(fn));
            if (m_in.options.unwind_helper == insn.imm) {
                m_as.test(Width::W64, Reg::rax, Reg::rax);
                m_as.jcc(Cond::Equal, m_unwind);
            }
            break;
        }
        case Operation::Kfunc: {
            HelperFn fn = CRIB_TRY(resolve_call(insn, m_in.imports));
            emit_native_call(reinterpret_cast<const void*>(fn));
            break;
        }
        case Operation::Local: {
            const size_t callee = m_structure.owner[checked_target(insn, pc)];
            const Reg fp = kRegs[isa::kFramePointer];
            m_as.alu_imm(AluOp::Sub, Width::W64, fp, isa::kStackSize);
            m_as.call(m_sub_labels[callee]);
            m_as.alu_imm(AluOp::Add, Width::W64, fp, isa::kStackSize);
            break;
        }
        case Operation::Indirect:
            spill();
            m_as.mov(Width::W64, Reg::rsi, kRegs[insn.dst]);
            m_as.mov_imm64(Reg::rdx, pc);
            emit_slow_call(reinterpret_cast<const void*>(&slow_callx));
            break;
        default:
            break;  // not a call
    }
    return {};
}

}  // namespace

// Two passes: the first emits every jump near and measures; the second
// emits short the jumps that will reach.
Result<Translation> translate(const TranslateInput& input) {
    Translator first(input, nullptr);
    CRIB_TRY(first.run());
    const std::vector<bool> plan = first.short_plan();
    Translator second(input, &plan);
    return second.run();
}

}  // namespace crib::exec::jit
