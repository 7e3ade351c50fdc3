// Random structured programs for the verifier's soundness check: a program
// is a sequence of fragments (scalar arithmetic, bounds checks, map value,
// stack, ringbuf and ctx accesses, spills, bounded loops, open-coded
// iterator loops, forward skips) over a few variables kept in r6..r9, with
// offsets and bounds drawn so that some accesses are in bounds and some are
// not. Everything the verifier accepts must then run without a fault and
// within the instruction budget (soundness.hpp runs it).
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "isa/insn.hpp"
#include "maps/map.hpp"

namespace crib::fuzz {

// Draws numbers from fuzzer bytes, then from a fixed stream when they run
// out, so every input gives a whole program.
class Draw {
public:
    explicit Draw(std::span<const uint8_t> bytes) : m_bytes(bytes) {}
    explicit Draw(uint64_t seed) : m_state(seed | 1) {}

    uint32_t next() {
        if (m_pos + 4 <= m_bytes.size()) {
            uint32_t v = 0;
            for (int i = 0; i < 4; ++i) v = v << 8 | m_bytes[m_pos++];
            return v;
        }
        m_state ^= m_state << 13;
        m_state ^= m_state >> 7;
        m_state ^= m_state << 17;
        return static_cast<uint32_t>(m_state >> 11);
    }
    // In [0, n).
    uint32_t below(uint32_t n) { return n ? next() % n : 0; }
    int32_t range(int32_t lo, int32_t hi) {
        return lo + static_cast<int32_t>(below(static_cast<uint32_t>(hi - lo + 1)));
    }
    bool chance(uint32_t percent) { return below(100) < percent; }

private:
    std::span<const uint8_t> m_bytes;
    size_t m_pos = 0;
    uint64_t m_state = 0x9e3779b97f4a7c15;
};

struct GeneratedProgram {
    std::vector<isa::Insn> insns;
    std::vector<maps::MapSpec> maps;  // lddw_map_idx imm indexes these
};

// The kfuncs generated programs call (tests/verifier/test_kfuncs.hpp); a
// call_kfunc's imm indexes this list.
inline constexpr std::string_view kIterKfuncs[] = {
    "bpf_iter_test_num_new", "bpf_iter_test_num_next", "bpf_iter_test_num_destroy"};

// Map 0: array, 4-byte key, 64-byte value, 1 entry. Map 1: ringbuf.
inline constexpr uint32_t kValueSize = 64;
inline constexpr int32_t kIterOff = -32;    // the iterator object, when a fragment makes one
inline constexpr int kScratchBottom = 128;  // fp-128..fp-40: scratch stack, written at entry

struct GenOptions {
    int min_fragments = 2, max_fragments = 12;
    // Accesses drawn anywhere near their object rather than in bounds.
    uint32_t wild_percent = 6;
    // Open-coded iterator loops (the bpf_test_* kfuncs: crib only).
    bool iterators = true;
};

class ProgramGen {
public:
    explicit ProgramGen(Draw& draw, GenOptions options = {}) : m_draw(draw), m_opt(options) {}

    GeneratedProgram generate() {
        m_out = {};
        m_out.maps.push_back(maps::MapSpec{maps::MapType::Array, 4, kValueSize, 1, 0, "values"});
        m_out.maps.push_back(maps::MapSpec{maps::MapType::Ringbuf, 0, 0, 4096, 0, "records"});
        std::vector<isa::Insn> code;
        prologue(code);
        int fragments = m_draw.range(m_opt.min_fragments, m_opt.max_fragments);
        for (int i = 0; i < fragments; ++i) fragment(code, 0);
        // r0 = one of the variables (scalars only are safe to return).
        emit(code, isa::make(isa::Op::mov64_reg, 0, 7));
        emit(code, isa::make(isa::Op::exit));
        m_out.insns = std::move(code);
        return std::move(m_out);
    }

private:
    using Code = std::vector<isa::Insn>;
    static void emit(Code& code, isa::Insn insn) { code.push_back(insn); }

    void lddw_map(Code& code, int dst, int32_t index) {
        emit(code, isa::make(isa::Op::lddw_map_idx, static_cast<uint8_t>(dst), 0, 0, index));
        emit(code, isa::make(isa::Op::lddw_tail));
    }

    // The imm indexes kIterKfuncs, as the runtime numbers a program's kfuncs.
    static void call_kfunc(Code& code, int32_t index) {
        emit(code, isa::make(isa::Op::call_kfunc, 0, 0, 0, index));
    }

    // r6 = the map value (exit 0 when missing), r7 = a ctx word, r8 = a
    // small constant, r9 = the frame pointer minus something.
    void prologue(Code& code) {
        emit(code, isa::make(isa::Op::mov64_reg, 9, 1));  // keep ctx in r9 for a moment
        emit(code, isa::make(isa::Op::stw, 10, 0, -36, 0));
        lddw_map(code, 1, 0);
        emit(code, isa::make(isa::Op::mov64_reg, 2, 10));
        emit(code, isa::make(isa::Op::add64_imm, 2, 0, 0, -36));
        emit(code, isa::make(isa::Op::call, 0, 0, 0, 1));  // map_lookup_elem
        emit(code, isa::make(isa::Op::jne64_imm, 0, 0, 2, 0));
        emit(code, isa::make(isa::Op::mov64_imm, 0, 0, 0, 0));
        emit(code, isa::make(isa::Op::exit));
        emit(code, isa::make(isa::Op::mov64_reg, 6, 0));
        // Stack below the iterator and the key starts out written.
        for (int16_t off = -kScratchBottom; off < -40; off += 8)
            emit(code, isa::make(isa::Op::stdw, 10, 0, off, 0));
        const isa::Op loads[] = {isa::Op::ldxb, isa::Op::ldxh, isa::Op::ldxw, isa::Op::ldxdw};
        int size_log = static_cast<int>(m_draw.below(4));
        int16_t off = static_cast<int16_t>(m_draw.below(8) * 8);
        emit(code, isa::make(loads[size_log], 7, 9, off));
        emit(code, isa::make(isa::Op::mov64_imm, 8, 0, 0, m_draw.range(-4, 40)));
        emit(code, isa::make(isa::Op::mov64_reg, 9, 10));
        emit(code, isa::make(isa::Op::add64_imm, 9, 0, 0, -8 * m_draw.range(5, 40)));
    }

    int scalar_reg() { return m_draw.chance(70) ? 7 : 8; }
    // Most accesses are drawn in bounds (one bad one refuses the whole
    // program); this many percent are drawn anywhere near.
    bool wild() { return m_draw.chance(m_opt.wild_percent); }
    // An offset for a `size`-byte access in [lo, hi), aligned, or near it.
    int16_t offset(int lo, int hi, int size) {
        if (wild()) return static_cast<int16_t>(m_draw.range(lo - 8, hi + 8));
        return static_cast<int16_t>(lo + size * m_draw.range(0, (hi - lo) / size - 1));
    }

    void fragment(Code& code, int depth) {
        switch (m_draw.below(depth > 1 ? 8 : 11)) {
            case 0:
            case 1:
                return alu(code);
            case 2:
                return bounds_check(code, depth);
            case 3:
                return map_access(code);
            case 4:
                return stack_access(code);
            case 5:
                return spill_fill(code);
            case 6:
                return ringbuf(code);
            case 7:
                return helper(code);
            case 8:
                return bounded_loop(code, depth);
            case 9:
                if (m_opt.iterators) return iter_loop(code, depth);
                return skip(code, depth);
            default:
                return skip(code, depth);
        }
    }

    void alu(Code& code) {
        static const isa::Op kImm[] = {
            isa::Op::add64_imm,  isa::Op::sub64_imm, isa::Op::mul64_imm, isa::Op::and64_imm,
            isa::Op::or64_imm,   isa::Op::xor64_imm, isa::Op::lsh64_imm, isa::Op::rsh64_imm,
            isa::Op::arsh64_imm, isa::Op::mod64_imm, isa::Op::div64_imm, isa::Op::add32_imm,
            isa::Op::and32_imm,  isa::Op::rsh32_imm, isa::Op::mov32_imm, isa::Op::mov64_imm};
        static const isa::Op kReg[] = {isa::Op::add64_reg, isa::Op::sub64_reg, isa::Op::mul64_reg,
                                       isa::Op::and64_reg, isa::Op::or64_reg,  isa::Op::xor64_reg,
                                       isa::Op::add32_reg, isa::Op::mov64_reg, isa::Op::mov32_reg};
        int dst = scalar_reg();
        if (m_draw.chance(65)) {
            isa::Op op = kImm[m_draw.below(std::size(kImm))];
            bool shift = op == isa::Op::lsh64_imm || op == isa::Op::rsh64_imm ||
                         op == isa::Op::arsh64_imm || op == isa::Op::rsh32_imm;
            int32_t imm = shift ? m_draw.range(0, 31) : m_draw.range(-70, 300);
            emit(code, isa::make(op, static_cast<uint8_t>(dst), 0, 0, imm));
        } else {
            isa::Op op = kReg[m_draw.below(std::size(kReg))];
            emit(code, isa::make(op, static_cast<uint8_t>(dst), static_cast<uint8_t>(15 - dst)));
        }
    }

    void bounds_check(Code& code, int depth) {
        static const isa::Op kJumps[] = {
            isa::Op::jgt64_imm,  isa::Op::jge64_imm,  isa::Op::jlt64_imm,  isa::Op::jle64_imm,
            isa::Op::jsgt64_imm, isa::Op::jsge64_imm, isa::Op::jslt64_imm, isa::Op::jsle64_imm,
            isa::Op::jgt32_imm,  isa::Op::jlt32_imm,  isa::Op::jsgt32_imm, isa::Op::jeq64_imm,
            isa::Op::jne64_imm,  isa::Op::jset64_imm};
        Code body;
        int fragments = m_draw.range(1, 3);
        for (int i = 0; i < fragments; ++i) fragment(body, depth + 1);
        emit(code,
             isa::make(kJumps[m_draw.below(std::size(kJumps))], static_cast<uint8_t>(scalar_reg()),
                       0, static_cast<int16_t>(body.size()), m_draw.range(-8, 72)));
        append(code, body);
    }

    void skip(Code& code, int depth) {
        Code body;
        fragment(body, depth + 1);
        // Jump over it only sometimes: skipped code must stay reachable.
        emit(code, isa::make(isa::Op::jeq64_reg, 7, 8, static_cast<int16_t>(body.size())));
        append(code, body);
    }

    void map_access(Code& code) {
        static const isa::Op kLoads[] = {isa::Op::ldxb, isa::Op::ldxh, isa::Op::ldxw,
                                         isa::Op::ldxdw};
        static const isa::Op kStores[] = {isa::Op::stxb, isa::Op::stxh, isa::Op::stxw,
                                          isa::Op::stxdw};
        emit(code, isa::make(isa::Op::mov64_reg, 1, 6));
        if (m_draw.chance(30)) emit(code, isa::make(isa::Op::add64_reg, 1, scalar_reg()));
        int size = static_cast<int>(m_draw.below(4));
        int16_t off = offset(0, kValueSize, 1 << size);
        if (m_draw.chance(50))
            emit(code, isa::make(kLoads[size], static_cast<uint8_t>(scalar_reg()), 1, off));
        else
            emit(code, isa::make(kStores[size], 1, static_cast<uint8_t>(scalar_reg()), off));
    }

    void stack_access(Code& code) {
        static const isa::Op kLoads[] = {isa::Op::ldxb, isa::Op::ldxh, isa::Op::ldxw,
                                         isa::Op::ldxdw};
        static const isa::Op kStores[] = {isa::Op::stb, isa::Op::sth, isa::Op::stw, isa::Op::stdw};
        int base = m_draw.chance(70) ? 10 : 9;
        if (m_draw.chance(15)) {
            emit(code, isa::make(isa::Op::mov64_reg, 1, static_cast<uint8_t>(base)));
            emit(code, isa::make(isa::Op::add64_reg, 1, static_cast<uint8_t>(scalar_reg())));
            base = 1;
        }
        int size = static_cast<int>(m_draw.below(4));
        int16_t off = offset(-kScratchBottom, -40, 1 << size);
        if (m_draw.chance(45))
            emit(code, isa::make(kLoads[size], static_cast<uint8_t>(scalar_reg()),
                                 static_cast<uint8_t>(base), off));
        else
            emit(code, isa::make(kStores[size], static_cast<uint8_t>(base), 0, off,
                                 m_draw.range(-3, 100)));
    }

    void spill_fill(Code& code) {
        int16_t off = offset(-kScratchBottom, -40, 8);
        int from = m_draw.chance(50) ? 6 : scalar_reg();
        emit(code, isa::make(isa::Op::stxdw, 10, static_cast<uint8_t>(from), off));
        if (m_draw.chance(30)) return;
        int to = m_draw.chance(70) ? from : scalar_reg();
        emit(code, isa::make(m_draw.chance(85) ? isa::Op::ldxdw : isa::Op::ldxw,
                             static_cast<uint8_t>(to), 10, off));
    }

    void ringbuf(Code& code) {
        lddw_map(code, 1, 1);
        const int size = 8 * m_draw.range(1, 4);
        emit(code, isa::make(isa::Op::mov64_imm, 2, 0, 0, size));
        emit(code, isa::make(isa::Op::mov64_imm, 3, 0, 0, 0));
        emit(code, isa::make(isa::Op::call, 0, 0, 0, 131));
        Code use;
        int16_t off = offset(0, size, 8);
        emit(use, isa::make(isa::Op::stxdw, 0, static_cast<uint8_t>(scalar_reg()), off));
        emit(use, isa::make(isa::Op::mov64_reg, 1, 0));
        emit(use, isa::make(isa::Op::mov64_imm, 2, 0, 0, 0));
        emit(use, isa::make(isa::Op::call, 0, 0, 0, m_draw.chance(80) ? 132 : 133));
        emit(code, isa::make(isa::Op::jeq64_imm, 0, 0, static_cast<int16_t>(use.size()), 0));
        append(code, use);
    }

    void helper(Code& code) {
        emit(code, isa::make(isa::Op::call, 0, 0, 0, 7));  // get_prandom_u32
        emit(code, isa::make(isa::Op::mov64_reg, static_cast<uint8_t>(scalar_reg()), 0));
    }

    // r8 counts from a start to a bound; the body is small fragments.
    void bounded_loop(Code& code, int depth) {
        emit(code, isa::make(isa::Op::mov64_imm, 8, 0, 0, m_draw.range(0, 3)));
        Code body;
        int fragments = m_draw.range(1, 2);
        for (int i = 0; i < fragments; ++i) fragment(body, depth + 2);
        emit(body, isa::make(isa::Op::add64_imm, 8, 0, 0, m_draw.range(1, 3)));
        static const isa::Op kBack[] = {isa::Op::jlt64_imm, isa::Op::jle64_imm, isa::Op::jne64_imm,
                                        isa::Op::jslt64_imm};
        auto back =
            static_cast<int16_t>(-static_cast<int>(body.size()) - 1);  // to the body's start
        emit(body,
             isa::make(kBack[m_draw.below(std::size(kBack))], 8, 0, back, m_draw.range(1, 12)));
        append(code, body);
    }

    // An iterator over [0, r7 & 15) at fp-32; sometimes not destroyed.
    void iter_loop(Code& code, int depth) {
        emit(code, isa::make(isa::Op::mov64_reg, 1, 10));
        emit(code, isa::make(isa::Op::add64_imm, 1, 0, 0, kIterOff));
        emit(code, isa::make(isa::Op::mov64_imm, 2, 0, 0, 0));
        emit(code, isa::make(isa::Op::mov64_reg, 3, 7));
        emit(code, isa::make(isa::Op::and64_imm, 3, 0, 0, 15));
        call_kfunc(code, 0);
        Code body;
        emit(body, isa::make(isa::Op::mov64_reg, 1, 10));
        emit(body, isa::make(isa::Op::add64_imm, 1, 0, 0, kIterOff));
        call_kfunc(body, 1);
        Code inner;
        // The element: read a field (in bounds or not), then the body.
        emit(inner,
             isa::make(isa::Op::ldxdw, static_cast<uint8_t>(scalar_reg()), 0, offset(0, 16, 8)));
        int fragments = m_draw.range(1, 2);
        for (int i = 0; i < fragments; ++i) fragment(inner, depth + 2);
        if (m_draw.chance(50)) emit(inner, isa::make(isa::Op::add64_imm, 7, 0, 0, 1));
        emit(body, isa::make(isa::Op::jeq64_imm, 0, 0, static_cast<int16_t>(inner.size() + 1), 0));
        append(body, inner);
        emit(body, isa::make(isa::Op::ja, 0, 0,
                             static_cast<int16_t>(-static_cast<int>(body.size()) - 1)));
        append(code, body);
        if (m_draw.chance(90)) {
            emit(code, isa::make(isa::Op::mov64_reg, 1, 10));
            emit(code, isa::make(isa::Op::add64_imm, 1, 0, 0, kIterOff));
            call_kfunc(code, 2);
        }
    }

    static void append(Code& code, const Code& piece) {
        code.insert(code.end(), piece.begin(), piece.end());
    }

    Draw& m_draw;
    GenOptions m_opt;
    GeneratedProgram m_out;
};

}  // namespace crib::fuzz
