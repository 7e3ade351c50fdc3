#include "isa/insn.hpp"

#include <cstring>

namespace crib::isa {
namespace {

// Rows sharing each opcode byte, computed once from the table.
struct OpcodeIndex {
    std::array<std::array<int16_t, 12>, 256> rows{};
    std::array<uint8_t, 256> count{};

    constexpr OpcodeIndex() {
        for (auto& list : rows) list.fill(-1);
        for (size_t i = 0; i < kOpCount; ++i) {
            if (kOps[i].kind == Kind::LddwTail) continue;
            uint8_t code = kOps[i].opcode;
            rows[code][count[code]++] = static_cast<int16_t>(i);
        }
    }
};
constexpr OpcodeIndex kIndex;

int32_t selector_field(const enc::RawInsn& raw, Selector selector) {
    switch (selector) {
        case Selector::None:
            return 0;
        case Selector::Off:
            return raw.off;
        case Selector::Imm:
            return raw.imm;
        case Selector::Src:
            return raw.src;
    }
    return 0;
}

Result<void> check_unused(const enc::RawInsn& raw, const OpInfo& row) {
    auto check = [&](Field field, int64_t value, std::string_view what) -> Result<void> {
        bool selects = (row.selector == Selector::Off && field == Field::Off) ||
                       (row.selector == Selector::Imm && field == Field::Imm) ||
                       (row.selector == Selector::Src && field == Field::Src);
        if (value != 0 && !row.uses(field) && !selects)
            return make_error(EINVAL, "{}: unused field {} must be 0, is {}", row.name, what,
                              value);
        return {};
    };
    CRIB_TRY(check(Field::Dst, raw.dst, "dst"));
    CRIB_TRY(check(Field::Src, raw.src, "src"));
    CRIB_TRY(check(Field::Off, raw.off, "off"));
    CRIB_TRY(check(Field::Imm, raw.imm, "imm"));
    if (raw.dst >= kRegisterCount || raw.src >= kRegisterCount)
        return make_error(EINVAL, "{}: invalid register r{}", row.name,
                          raw.dst >= kRegisterCount ? raw.dst : raw.src);
    return {};
}

Result<Op> find_row(const enc::RawInsn& raw) {
    uint8_t code = raw.opcode;
    for (int i = 0; i < kIndex.count[code]; ++i) {
        const OpInfo& row = kOps[kIndex.rows[code][i]];
        if (selector_field(raw, row.selector) == row.selector_value)
            return static_cast<Op>(kIndex.rows[code][i]);
    }
    if (kIndex.count[code] == 0) return make_error(EINVAL, "unknown opcode {:#04x}", code);
    const OpInfo& first = kOps[kIndex.rows[code][0]];
    static constexpr std::string_view kSelectorNames[] = {"", "off", "imm", "src"};
    return make_error(EINVAL, "opcode {:#04x}: invalid {} {}", code,
                      kSelectorNames[static_cast<int>(first.selector)],
                      selector_field(raw, first.selector));
}

// The instruction with its row's selector field set, whatever it held.
Insn with_selector(Insn insn) {
    const OpInfo& row = insn.info();
    switch (row.selector) {
        case Selector::None:
            break;
        case Selector::Off:
            insn.off = static_cast<int16_t>(row.selector_value);
            break;
        case Selector::Imm:
            insn.imm = row.selector_value;
            break;
        case Selector::Src:
            insn.src = static_cast<uint8_t>(row.selector_value);
            break;
    }
    return insn;
}

}  // namespace

Result<std::vector<Insn>> decode(std::span<const enc::RawInsn> raw) {
    std::vector<Insn> program;
    program.reserve(raw.size());
    for (size_t pc = 0; pc < raw.size(); ++pc) {
        auto fail = [&](Error error) { return std::move(error.at_insn(static_cast<int64_t>(pc))); };
        auto op = find_row(raw[pc]);
        if (!op) return fail(std::move(op).error());
        const OpInfo& row = info(*op);
        if (auto ok = check_unused(raw[pc], row); !ok) return fail(std::move(ok).error());
        Insn insn{*op, raw[pc].dst, raw[pc].src, raw[pc].off, raw[pc].imm};
        program.push_back(insn);
        if (row.kind != Kind::Lddw) continue;
        if (pc + 1 >= raw.size())
            return fail(make_error(EINVAL, "lddw is missing its second slot"));
        const enc::RawInsn& tail = raw[++pc];
        if (tail.opcode != 0 || tail.dst != 0 || tail.src != 0 || tail.off != 0)
            return std::move(make_error(EINVAL, "second slot of lddw must be zero but for imm")
                                 .at_insn(static_cast<int64_t>(pc)));
        program.back().imm64 = static_cast<uint32_t>(raw[pc - 1].imm) |
                               static_cast<uint64_t>(static_cast<uint32_t>(tail.imm)) << 32;
        program.push_back(Insn{Op::lddw_tail, 0, 0, 0, tail.imm});
    }
    return program;
}

Result<std::vector<Insn>> decode_bytes(std::span<const uint8_t> bytes) {
    if (bytes.size() % sizeof(enc::RawInsn) != 0)
        return make_error(EINVAL, "program size {} is not a multiple of 8", bytes.size());
    std::vector<enc::RawInsn> raw(bytes.size() / sizeof(enc::RawInsn));
    if (!raw.empty()) std::memcpy(raw.data(), bytes.data(), bytes.size());
    return decode(raw);
}

enc::RawInsn encode(const Insn& insn) {
    const OpInfo& row = insn.info();
    Insn selected = with_selector(insn);
    return enc::RawInsn{row.opcode, static_cast<uint8_t>(selected.dst & 0xf),
                        static_cast<uint8_t>(selected.src & 0xf), selected.off, selected.imm};
}

std::vector<enc::RawInsn> encode(std::span<const Insn> program) {
    std::vector<enc::RawInsn> raw;
    raw.reserve(program.size());
    for (const Insn& insn : program) raw.push_back(encode(insn));
    return raw;
}

Insn make(Op op, uint8_t dst, uint8_t src, int16_t off, int32_t imm) {
    return with_selector(Insn{op, dst, src, off, imm});
}

}  // namespace crib::isa

namespace crib::isa {
namespace {

// Rows sharing an opcode must use the same selector field with distinct values;
// otherwise decoding would be ambiguous.
constexpr bool rows_are_distinct() {
    for (size_t i = 0; i < kOpCount; ++i)
        for (size_t j = i + 1; j < kOpCount; ++j) {
            const OpInfo& a = kOps[i];
            const OpInfo& b = kOps[j];
            if (a.kind == Kind::LddwTail || b.kind == Kind::LddwTail || a.opcode != b.opcode)
                continue;
            if (a.selector != b.selector || a.selector == Selector::None) return false;
            if (a.selector_value == b.selector_value) return false;
        }
    return true;
}
static_assert(rows_are_distinct(), "insn.def: two rows decode the same bytes");

}  // namespace
}  // namespace crib::isa
