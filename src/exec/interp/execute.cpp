// The dispatch loop. Each handler ends in its own indirect jump (GNU
// labels-as-values), so the branch predictor learns per-handler successors;
// the table of labels is expanded from insn.def, so a row without a handler
// is a compile error ("label used but not defined").
#include <bit>
#include <cstring>

#include <fmt/format.h>

#include "exec/interp/machine.hpp"
#include "exec/resolve.hpp"

namespace crib::exec::interp {

static_assert(std::endian::native == std::endian::little,
              "le/be handlers and memory access assume a little-endian host");

namespace {

// memcpy keeps unaligned and type-punned accesses defined; it compiles to a
// single move.
template <typename T>
T load(uint64_t address) {
    T value;
    std::memcpy(&value, reinterpret_cast<const void*>(address), sizeof value);
    return value;
}

template <typename T>
void store(uint64_t address, T value) {
    std::memcpy(reinterpret_cast<void*>(address), &value, sizeof value);
}

template <typename T>
T* atomic_at(uint64_t address) {
    return reinterpret_cast<T*>(address);
}

// RFC 9669: BPF division never traps. Dividing by zero gives 0 (modulo keeps
// the dividend) and the most negative value divided by -1 is itself (modulo
// 0), which C++ leaves undefined, hence the explicit cases.
template <typename S, typename U>
U signed_div(U dividend, U divisor) {
    if (divisor == 0) return 0;
    if (static_cast<S>(divisor) == -1) return U{0} - dividend;
    return static_cast<U>(static_cast<S>(dividend) / static_cast<S>(divisor));
}

template <typename S, typename U>
U signed_mod(U dividend, U divisor) {
    if (divisor == 0) return dividend;
    if (static_cast<S>(divisor) == -1) return 0;
    return static_cast<U>(static_cast<S>(dividend) % static_cast<S>(divisor));
}

}  // namespace

template <bool Trace>
uint64_t Machine::execute(const Slot* start, const Args& args, TailCallChain& tail) const {
    static const void* const kDispatch[] = {
#define CRIB_INSN(name, ...) &&op_##name,
#include "isa/insn.def"
#undef CRIB_INSN
        &&op_tail_call,
        &&op_call_unwind,
    };
    static_assert(std::size(kDispatch) == kHandlerCount);

    struct Frame {
        const Slot* ret;
        uint64_t saved[4];  // r6..r9
        uint64_t fp;
    };
    // check_structure() bounds the call chain by kMaxCallDepth, so neither
    // array needs a check at run time.
    alignas(16) uint8_t stack[kMaxCallDepth * isa::kStackSize];
    Frame frames[kMaxCallDepth];
    Frame* frame = frames;

    uint64_t r[isa::kRegisterCount] = {};
    for (size_t i = 0; i < args.size(); ++i) r[i + 1] = args[i];
    r[isa::kFramePointer] = reinterpret_cast<uint64_t>(stack + sizeof stack);

    const Slot* const base = m_slots.data();
    const Slot* pc = start;

#define CRIB_DISPATCH()                                                \
    do {                                                               \
        if constexpr (Trace) trace(static_cast<size_t>(pc - base), r); \
        goto* kDispatch[static_cast<uint8_t>(pc->handler)];            \
    } while (0)
#define CRIB_NEXT()      \
    do {                 \
        ++pc;            \
        CRIB_DISPATCH(); \
    } while (0)
#define CRIB_DST r[pc->dst]
#define CRIB_SRC r[pc->src]
#define CRIB_ADDR (CRIB_DST + static_cast<uint64_t>(pc->off))

#define CRIB_ALU64(name, expr)                                              \
    op_##name##64_imm : {                                                   \
        [[maybe_unused]] const uint64_t d = CRIB_DST;                       \
        [[maybe_unused]] const uint64_t s = static_cast<uint64_t>(pc->imm); \
        CRIB_DST = (expr);                                                  \
        CRIB_NEXT();                                                        \
    }                                                                       \
    op_##name##64_reg : {                                                   \
        [[maybe_unused]] const uint64_t d = CRIB_DST;                       \
        [[maybe_unused]] const uint64_t s = CRIB_SRC;                       \
        CRIB_DST = (expr);                                                  \
        CRIB_NEXT();                                                        \
    }
#define CRIB_ALU32(name, expr)                                               \
    op_##name##32_imm : {                                                    \
        [[maybe_unused]] const uint32_t d = static_cast<uint32_t>(CRIB_DST); \
        [[maybe_unused]] const uint32_t s = static_cast<uint32_t>(pc->imm);  \
        CRIB_DST = static_cast<uint32_t>(expr);                              \
        CRIB_NEXT();                                                         \
    }                                                                        \
    op_##name##32_reg : {                                                    \
        [[maybe_unused]] const uint32_t d = static_cast<uint32_t>(CRIB_DST); \
        [[maybe_unused]] const uint32_t s = static_cast<uint32_t>(CRIB_SRC); \
        CRIB_DST = static_cast<uint32_t>(expr);                              \
        CRIB_NEXT();                                                         \
    }
#define CRIB_ALU(name, expr64, expr32) CRIB_ALU64(name, expr64) CRIB_ALU32(name, expr32)

#define CRIB_JUMP_IF(cond)              \
    do {                                \
        pc += (cond) ? pc->off + 1 : 1; \
        CRIB_DISPATCH();                \
    } while (0)
// a is dst, b the operand, both as T##64_t or T##32_t (T is int or uint).
#define CRIB_JUMP(name, T, expr)                          \
    op_##name##64_imm : {                                 \
        const T##64_t a = static_cast<T##64_t>(CRIB_DST); \
        const T##64_t b = static_cast<T##64_t>(pc->imm);  \
        CRIB_JUMP_IF(expr);                               \
    }                                                     \
    op_##name##64_reg : {                                 \
        const T##64_t a = static_cast<T##64_t>(CRIB_DST); \
        const T##64_t b = static_cast<T##64_t>(CRIB_SRC); \
        CRIB_JUMP_IF(expr);                               \
    }                                                     \
    op_##name##32_imm : {                                 \
        const T##32_t a = static_cast<T##32_t>(CRIB_DST); \
        const T##32_t b = static_cast<T##32_t>(pc->imm);  \
        CRIB_JUMP_IF(expr);                               \
    }                                                     \
    op_##name##32_reg : {                                 \
        const T##32_t a = static_cast<T##32_t>(CRIB_DST); \
        const T##32_t b = static_cast<T##32_t>(CRIB_SRC); \
        CRIB_JUMP_IF(expr);                               \
    }

#define CRIB_ATOMIC(op, W)                                                                         \
    op_atomic_##op##W : {                                                                          \
        __atomic_fetch_##op(atomic_at<uint##W##_t>(CRIB_ADDR), static_cast<uint##W##_t>(CRIB_SRC), \
                            __ATOMIC_SEQ_CST);                                                     \
        CRIB_NEXT();                                                                               \
    }                                                                                              \
    op_atomic_fetch_##op##W : {                                                                    \
        CRIB_SRC = __atomic_fetch_##op(atomic_at<uint##W##_t>(CRIB_ADDR),                          \
                                       static_cast<uint##W##_t>(CRIB_SRC), __ATOMIC_SEQ_CST);      \
        CRIB_NEXT();                                                                               \
    }
#define CRIB_ATOMIC_SWAPS(W)                                                                     \
    op_atomic_xchg##W : {                                                                        \
        CRIB_SRC = __atomic_exchange_n(atomic_at<uint##W##_t>(CRIB_ADDR),                        \
                                       static_cast<uint##W##_t>(CRIB_SRC), __ATOMIC_SEQ_CST);    \
        CRIB_NEXT();                                                                             \
    }                                                                                            \
    op_atomic_cmpxchg##W : {                                                                     \
        auto expected = static_cast<uint##W##_t>(r[0]);                                          \
        __atomic_compare_exchange_n(atomic_at<uint##W##_t>(CRIB_ADDR), &expected,                \
                                    static_cast<uint##W##_t>(CRIB_SRC), false, __ATOMIC_SEQ_CST, \
                                    __ATOMIC_SEQ_CST);                                           \
        r[0] = expected;                                                                         \
        CRIB_NEXT();                                                                             \
    }

    CRIB_DISPATCH();

    // Arithmetic. Shift counts are masked to the operand width, as RFC 9669
    // specifies; 32-bit results are zero-extended by the uint32_t cast.
    CRIB_ALU(add, d + s, d + s)
    CRIB_ALU(sub, d - s, d - s)
    CRIB_ALU(mul, d * s, d * s)
    CRIB_ALU(div, s ? d / s : 0, s ? d / s : 0)
    CRIB_ALU(sdiv, (signed_div<int64_t>(d, s)), (signed_div<int32_t>(d, s)))
    CRIB_ALU(or, d | s, d | s)
    CRIB_ALU(and, d & s, d & s)
    CRIB_ALU(lsh, d << (s & 63), d << (s & 31))
    CRIB_ALU(rsh, d >> (s & 63), d >> (s & 31))
    CRIB_ALU(mod, s ? d % s : d, s ? d % s : d)
    CRIB_ALU(smod, (signed_mod<int64_t>(d, s)), (signed_mod<int32_t>(d, s)))
    CRIB_ALU(xor, d ^ s, d ^ s)
    CRIB_ALU(mov, s, s)
    CRIB_ALU(arsh, static_cast<uint64_t>(static_cast<int64_t>(d) >> (s & 63)),
             static_cast<uint32_t>(static_cast<int32_t>(d) >> (s & 31)))

op_neg64:
    CRIB_DST = uint64_t{0} - CRIB_DST;
    CRIB_NEXT();
op_neg32:
    CRIB_DST = static_cast<uint32_t>(0u - static_cast<uint32_t>(CRIB_DST));
    CRIB_NEXT();
op_movsx64_8:
    CRIB_DST = static_cast<uint64_t>(static_cast<int64_t>(static_cast<int8_t>(CRIB_SRC)));
    CRIB_NEXT();
op_movsx64_16:
    CRIB_DST = static_cast<uint64_t>(static_cast<int64_t>(static_cast<int16_t>(CRIB_SRC)));
    CRIB_NEXT();
op_movsx64_32:
    CRIB_DST = static_cast<uint64_t>(static_cast<int64_t>(static_cast<int32_t>(CRIB_SRC)));
    CRIB_NEXT();
op_movsx32_8:
    CRIB_DST = static_cast<uint32_t>(static_cast<int32_t>(static_cast<int8_t>(CRIB_SRC)));
    CRIB_NEXT();
op_movsx32_16:
    CRIB_DST = static_cast<uint32_t>(static_cast<int32_t>(static_cast<int16_t>(CRIB_SRC)));
    CRIB_NEXT();

    // Byte order: the host is little-endian, so "to le" only truncates and
    // "to be" and bswap both swap.
op_le16:
    CRIB_DST = static_cast<uint16_t>(CRIB_DST);
    CRIB_NEXT();
op_le32:
    CRIB_DST = static_cast<uint32_t>(CRIB_DST);
    CRIB_NEXT();
op_le64:
    CRIB_NEXT();
op_be16:
op_bswap16:
    CRIB_DST = __builtin_bswap16(static_cast<uint16_t>(CRIB_DST));
    CRIB_NEXT();
op_be32:
op_bswap32:
    CRIB_DST = __builtin_bswap32(static_cast<uint32_t>(CRIB_DST));
    CRIB_NEXT();
op_be64:
op_bswap64:
    CRIB_DST = __builtin_bswap64(CRIB_DST);
    CRIB_NEXT();

    // Jumps; ja32 (gotol) had its imm moved into off by translate().
op_ja:
op_ja32:
    pc += pc->off + 1;
    CRIB_DISPATCH();
    CRIB_JUMP(jeq, uint, a == b)
    CRIB_JUMP(jgt, uint, a > b)
    CRIB_JUMP(jge, uint, a >= b)
    CRIB_JUMP(jset, uint, (a & b) != 0)
    CRIB_JUMP(jne, uint, a != b)
    CRIB_JUMP(jsgt, int, a > b)
    CRIB_JUMP(jsge, int, a >= b)
    CRIB_JUMP(jlt, uint, a < b)
    CRIB_JUMP(jle, uint, a <= b)
    CRIB_JUMP(jslt, int, a < b)
    CRIB_JUMP(jsle, int, a <= b)

op_call:
op_call_kfunc:
    r[0] = pc->fn(r[1], r[2], r[3], r[4], r[5]);
    CRIB_NEXT();
op_call_unwind:
    r[0] = pc->fn(r[1], r[2], r[3], r[4], r[5]);
    if (r[0] == 0) return 0;
    CRIB_NEXT();
op_tail_call:
    if (tail.take(r)) return 0;
    CRIB_NEXT();
op_callx : {
    const auto id = static_cast<int32_t>(CRIB_DST);
    if (id == kHelperTailCall) {
        if (tail.take(r)) return 0;
        CRIB_NEXT();
    }
    HelperFn fn =
        resolve_callx(m_imports, id, static_cast<size_t>(pc - base), m_options.trace_sink);
    if (!fn) return 0;
    r[0] = fn(r[1], r[2], r[3], r[4], r[5]);
    if (r[0] == 0 && m_options.unwind_helper == id) return 0;
    CRIB_NEXT();
}
op_call_local:
    frame->ret = pc + 1;
    std::memcpy(frame->saved, &r[6], sizeof frame->saved);
    frame->fp = r[isa::kFramePointer];
    ++frame;
    r[isa::kFramePointer] -= isa::kStackSize;
    pc += pc->off + 1;
    CRIB_DISPATCH();
op_exit:
    if (frame == frames) return r[0];
    --frame;
    std::memcpy(&r[6], frame->saved, sizeof frame->saved);
    r[isa::kFramePointer] = frame->fp;
    pc = frame->ret;
    CRIB_DISPATCH();

op_ldxb:
    CRIB_DST = load<uint8_t>(CRIB_SRC + static_cast<uint64_t>(pc->off));
    CRIB_NEXT();
op_ldxh:
    CRIB_DST = load<uint16_t>(CRIB_SRC + static_cast<uint64_t>(pc->off));
    CRIB_NEXT();
op_ldxw:
    CRIB_DST = load<uint32_t>(CRIB_SRC + static_cast<uint64_t>(pc->off));
    CRIB_NEXT();
op_ldxdw:
    CRIB_DST = load<uint64_t>(CRIB_SRC + static_cast<uint64_t>(pc->off));
    CRIB_NEXT();
op_ldxsb:
    CRIB_DST = static_cast<uint64_t>(
        static_cast<int64_t>(load<int8_t>(CRIB_SRC + static_cast<uint64_t>(pc->off))));
    CRIB_NEXT();
op_ldxsh:
    CRIB_DST = static_cast<uint64_t>(
        static_cast<int64_t>(load<int16_t>(CRIB_SRC + static_cast<uint64_t>(pc->off))));
    CRIB_NEXT();
op_ldxsw:
    CRIB_DST = static_cast<uint64_t>(
        static_cast<int64_t>(load<int32_t>(CRIB_SRC + static_cast<uint64_t>(pc->off))));
    CRIB_NEXT();
op_stb:
    store(CRIB_ADDR, static_cast<uint8_t>(pc->imm));
    CRIB_NEXT();
op_sth:
    store(CRIB_ADDR, static_cast<uint16_t>(pc->imm));
    CRIB_NEXT();
op_stw:
    store(CRIB_ADDR, static_cast<uint32_t>(pc->imm));
    CRIB_NEXT();
op_stdw:
    store(CRIB_ADDR, static_cast<uint64_t>(pc->imm));
    CRIB_NEXT();
op_stxb:
    store(CRIB_ADDR, static_cast<uint8_t>(CRIB_SRC));
    CRIB_NEXT();
op_stxh:
    store(CRIB_ADDR, static_cast<uint16_t>(CRIB_SRC));
    CRIB_NEXT();
op_stxw:
    store(CRIB_ADDR, static_cast<uint32_t>(CRIB_SRC));
    CRIB_NEXT();
op_stxdw:
    store(CRIB_ADDR, CRIB_SRC);
    CRIB_NEXT();

    // Atomics; 32-bit fetches land zero-extended through the uint32_t result.
    CRIB_ATOMIC(add, 64)
    CRIB_ATOMIC(or, 64)
    CRIB_ATOMIC(and, 64)
    CRIB_ATOMIC(xor, 64)
    CRIB_ATOMIC_SWAPS(64)
    CRIB_ATOMIC(add, 32)
    CRIB_ATOMIC(or, 32)
    CRIB_ATOMIC(and, 32)
    CRIB_ATOMIC(xor, 32)
    CRIB_ATOMIC_SWAPS(32)

op_lddw:
    CRIB_DST = static_cast<uint64_t>(pc->imm);
    pc += 2;
    CRIB_DISPATCH();

    // translate() turns lddw_func into lddw, refuses the other pseudo forms,
    // and keeps jumps out of an lddw's second slot: no slot carries these.
op_lddw_func:
op_lddw_map_fd:
op_lddw_map_value:
op_lddw_btf_id:
op_lddw_map_idx:
op_lddw_map_idx_value:
op_lddw_tail:
    __builtin_trap();

#undef CRIB_ATOMIC_SWAPS
#undef CRIB_ATOMIC
#undef CRIB_JUMP
#undef CRIB_JUMP_IF
#undef CRIB_ALU
#undef CRIB_ALU32
#undef CRIB_ALU64
#undef CRIB_ADDR
#undef CRIB_SRC
#undef CRIB_DST
#undef CRIB_NEXT
#undef CRIB_DISPATCH
}

template uint64_t Machine::execute<false>(const Slot*, const Args&, TailCallChain&) const;
template uint64_t Machine::execute<true>(const Slot*, const Args&, TailCallChain&) const;

void Machine::trace(size_t pc, const uint64_t* regs) const {
    if (!m_options.trace_sink) return;
    fmt::memory_buffer line;
    fmt::format_to(std::back_inserter(line), "{:>4}: {:<18}", pc, m_code[pc].info().name);
    for (int i = 0; i < isa::kRegisterCount; ++i)
        fmt::format_to(std::back_inserter(line), " r{}={:#x}", i, regs[i]);
    m_options.trace_sink(LogLevel::Debug, std::string_view(line.data(), line.size()));
}

}  // namespace crib::exec::interp
