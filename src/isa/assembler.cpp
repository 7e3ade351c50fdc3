#include "isa/assembler.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <limits>
#include <optional>
#include <string>
#include <unordered_map>

namespace crib::isa {
namespace {

// What each operand position of a row expects, derived from its OpInfo so
// a new row in insn.def needs no assembler change.
enum class Operand : uint8_t {
    Dst,        // %rN into dst
    Src,        // %rN into src
    Imm,        // 32-bit immediate
    Imm64,      // lddw's 64-bit immediate
    SrcMem,     // [%rN+off]: src and off
    DstMem,     // [%rN+off]: dst and off
    TargetOff,  // label or +N/-N into off
    TargetImm,  // label or +N/-N into imm (ja32, call local)
};

struct Shape {
    std::array<Operand, 3> operands{};
    size_t count = 0;
};

Shape shape_of(const OpInfo& row) {
    auto make = [](std::initializer_list<Operand> list) {
        Shape shape;
        for (Operand operand : list) shape.operands[shape.count++] = operand;
        return shape;
    };
    using enum Operand;
    switch (row.kind) {
        case Kind::Alu:
            if (row.operation == Operation::Neg) return make({Dst});
            return row.source_is_reg() ? make({Dst, Src}) : make({Dst, Imm});
        case Kind::Endian:
            return make({Dst});
        case Kind::Jump:
            if (row.operation == Operation::Ja)
                return row.uses(Field::Imm) ? make({TargetImm}) : make({TargetOff});
            return row.source_is_reg() ? make({Dst, Src, TargetOff}) : make({Dst, Imm, TargetOff});
        case Kind::Call:
            if (row.operation == Operation::Local) return make({TargetImm});
            if (row.operation == Operation::Indirect) return make({Dst});
            return make({Imm});
        case Kind::Exit:
            return make({});
        case Kind::Load:
            return make({Dst, SrcMem});
        case Kind::Store:
            return row.operation == Operation::StoreReg ? make({DstMem, Src}) : make({DstMem, Imm});
        case Kind::Atomic:
            return make({DstMem, Src});
        case Kind::Lddw:
            return make({Dst, Imm64});
        case Kind::LddwTail:
            break;
    }
    return make({});
}

// Spellings the suite uses that insn.def's Text column does not: the
// upstream assembler's swapN, an explicit `call helper`/`call runtime`, and
// `call %rN` for callx (upstream puts the register in dst, as RFC 9669 does).
struct Alias {
    std::string_view spelling;
    std::string_view text;
};
constexpr Alias kAliases[] = {
    {"swap16", "bswap16"}, {"swap32", "bswap32"},   {"swap64", "bswap64"},
    {"call", "callx"},     {"call helper", "call"}, {"call runtime", "call kfunc"},
};

// Rows a mnemonic may stand for; operands pick among them (add: imm or reg).
std::vector<Op> candidates(std::string_view mnemonic) {
    std::vector<Op> rows;
    auto add_text = [&](std::string_view text) {
        for (size_t i = 0; i < kOpCount; ++i)
            if (!kOps[i].text.empty() && kOps[i].text == text) rows.push_back(static_cast<Op>(i));
    };
    add_text(mnemonic);
    for (const Alias& alias : kAliases)
        if (alias.spelling == mnemonic) add_text(alias.text);
    return rows;
}

std::string_view trim(std::string_view text) {
    const char* space = " \t\r\n";
    size_t begin = text.find_first_not_of(space);
    if (begin == std::string_view::npos) return {};
    size_t end = text.find_last_not_of(space);
    return text.substr(begin, end - begin + 1);
}

bool is_identifier(std::string_view text) {
    if (text.empty() || std::isdigit(static_cast<unsigned char>(text[0]))) return false;
    return std::all_of(text.begin(), text.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
    });
}

// A number as written: sign, magnitude, and whether it was hex (hex
// immediates are bit patterns, so 0xffffffff is a valid imm32).
struct Number {
    bool negative = false;
    bool hex = false;
    uint64_t magnitude = 0;
};

std::optional<Number> parse_number(std::string_view text) {
    Number number;
    if (!text.empty() && (text[0] == '-' || text[0] == '+')) {
        number.negative = text[0] == '-';
        text.remove_prefix(1);
    }
    int base = 10;
    if (text.size() > 2 && text[0] == '0' && (text[1] == 'x' || text[1] == 'X')) {
        base = 16;
        number.hex = true;
        text.remove_prefix(2);
    }
    if (text.empty()) return std::nullopt;
    auto [end, ec] =
        std::from_chars(text.data(), text.data() + text.size(), number.magnitude, base);
    if (ec != std::errc{} || end != text.data() + text.size()) return std::nullopt;
    return number;
}

// Whether a number fits a signed field of `bits`, also accepting hex bit
// patterns up to the field's unsigned maximum; yields the value.
std::optional<int64_t> fit(const Number& number, int bits) {
    const uint64_t signed_max = (uint64_t{1} << (bits - 1)) - 1;
    const uint64_t unsigned_max = bits == 64 ? ~uint64_t{0} : (uint64_t{1} << bits) - 1;
    if (number.negative) {
        if (number.magnitude > signed_max + 1) return std::nullopt;
        return static_cast<int64_t>(0 - number.magnitude);
    }
    if (number.magnitude <= signed_max) return static_cast<int64_t>(number.magnitude);
    if (number.magnitude > unsigned_max) return std::nullopt;
    // Positive decimal beyond the signed range is refused as upstream does,
    // except for lddw, whose immediate is an unsigned 64-bit constant.
    if (!number.hex && bits != 64) return std::nullopt;
    return static_cast<int64_t>(number.magnitude);
}

struct Pending {
    size_t slot;
    int line;
    std::string label;
};

class Assembler {
public:
    Result<std::vector<Insn>> run(std::string_view source) {
        int line_number = 0;
        while (!source.empty()) {
            size_t newline = source.find('\n');
            std::string_view line = source.substr(0, newline);
            source =
                newline == std::string_view::npos ? std::string_view{} : source.substr(newline + 1);
            ++line_number;
            m_line = line_number;
            if (auto ok = parse_line(line); !ok) return fail(ok.error().message());
        }
        for (const Pending& pending : m_pending) {
            m_line = pending.line;
            auto found = m_labels.find(pending.label);
            if (found == m_labels.end()) {
                if (pending.label != "exit" || !m_first_exit)
                    return fail("Invalid label: " + pending.label);
            }
            size_t target = found != m_labels.end() ? found->second : *m_first_exit;
            int64_t delta = static_cast<int64_t>(target) - static_cast<int64_t>(pending.slot) - 1;
            Insn& insn = m_program[pending.slot];
            Shape shape = shape_of(insn.info());
            if (shape.operands[shape.count - 1] == Operand::TargetImm) {
                insn.imm = static_cast<int32_t>(delta);
            } else {
                if (delta < std::numeric_limits<int16_t>::min() ||
                    delta > std::numeric_limits<int16_t>::max())
                    return fail("Jump to " + pending.label + " out of 16-bit range");
                insn.off = static_cast<int16_t>(delta);
            }
        }
        return std::move(m_program);
    }

private:
    Error fail(std::string message) const {
        return Error(EINVAL, "line " + std::to_string(m_line) + ": " + message);
    }

    Result<void> error(std::string message) const { return Error(EINVAL, std::move(message)); }

    Result<void> parse_line(std::string_view line) {
        if (size_t hash = line.find('#'); hash != std::string_view::npos)
            line = line.substr(0, hash);
        line = trim(line);
        if (line.empty()) return {};

        size_t colon = line.find(':');
        if (colon != std::string_view::npos && is_identifier(trim(line.substr(0, colon)))) {
            std::string label(trim(line.substr(0, colon)));
            if (m_labels.contains(label)) return error("Duplicate label: " + label);
            m_labels.emplace(std::move(label), m_program.size());
            line = trim(line.substr(colon + 1));
            if (line.empty()) return {};
        }

        // Words of the mnemonic; the longest prefix that names rows wins, so
        // `call local f` is not read as `call` with operands `local f`.
        std::vector<std::string_view> words;
        std::vector<size_t> word_end;
        for (size_t pos = 0; pos < line.size() && words.size() < 3;) {
            size_t begin = line.find_first_not_of(" \t", pos);
            if (begin == std::string_view::npos) break;
            size_t end = line.find_first_of(" \t", begin);
            if (end == std::string_view::npos) end = line.size();
            words.push_back(line.substr(begin, end - begin));
            word_end.push_back(end);
            pos = end;
        }
        for (size_t count = words.size(); count > 0; --count) {
            std::string mnemonic(words[0]);
            for (size_t i = 1; i < count; ++i) mnemonic += " " + std::string(words[i]);
            std::vector<Op> rows = candidates(mnemonic);
            if (rows.empty()) continue;
            return instruction(mnemonic, rows, trim(line.substr(word_end[count - 1])));
        }
        // Upstream reports a bare or incomplete `lock` as an operand problem.
        if (words[0] == "lock") return error("Invalid number of operands for lock");
        return error("Invalid mnemonic: " + std::string(words[0]));
    }

    Result<void> instruction(const std::string& mnemonic, const std::vector<Op>& rows,
                             std::string_view operand_text) {
        std::vector<std::string_view> operands;
        while (!operand_text.empty()) {
            size_t comma = operand_text.find(',');
            operands.push_back(trim(operand_text.substr(0, comma)));
            if (comma == std::string_view::npos) break;
            operand_text = operand_text.substr(comma + 1);
        }

        const Op* chosen = nullptr;
        for (const Op& op : rows) {
            Shape shape = shape_of(info(op));
            if (shape.count != operands.size()) continue;
            if (!chosen) chosen = &op;
            if (std::equal(operands.begin(), operands.end(), shape.operands.begin(),
                           classes_match)) {
                chosen = &op;
                break;
            }
        }
        if (!chosen) {
            if (info(rows[0]).kind == Kind::Atomic)
                return error("Invalid number of operands for lock");
            return error("Invalid number of operands for mnemonic: " + mnemonic);
        }

        const OpInfo& row = info(*chosen);
        Shape shape = shape_of(row);
        Insn insn = make(*chosen);
        std::optional<std::string> label;
        uint64_t imm64 = 0;
        for (size_t i = 0; i < shape.count; ++i) {
            std::string_view text = operands[i];
            switch (shape.operands[i]) {
                case Operand::Dst:
                    insn.dst = CRIB_TRY(reg(text));
                    break;
                case Operand::Src:
                    insn.src = CRIB_TRY(reg(text));
                    break;
                case Operand::Imm:
                    insn.imm = CRIB_TRY(imm32(text));
                    break;
                case Operand::Imm64: {
                    auto number = parse_number(text);
                    auto value = number ? fit(*number, 64) : std::nullopt;
                    if (!value) return error("Invalid 64-bit immediate: " + std::string(text));
                    imm64 = static_cast<uint64_t>(*value);
                    break;
                }
                case Operand::SrcMem:
                case Operand::DstMem: {
                    auto [base, offset] = CRIB_TRY(memory(text));
                    (shape.operands[i] == Operand::SrcMem ? insn.src : insn.dst) = base;
                    insn.off = offset;
                    break;
                }
                case Operand::TargetOff:
                case Operand::TargetImm: {
                    if (text.starts_with('+') || text.starts_with('-')) {
                        if (shape.operands[i] == Operand::TargetOff)
                            insn.off = CRIB_TRY(offset16(text));
                        else
                            insn.imm = CRIB_TRY(imm32(text));
                    } else if (is_identifier(text)) {
                        label = std::string(text);
                    } else {
                        return error("Invalid label: " + std::string(text));
                    }
                    break;
                }
            }
        }

        if (row.kind == Kind::Lddw) {
            insn.imm = static_cast<int32_t>(static_cast<uint32_t>(imm64));
            insn.imm64 = imm64;
            m_program.push_back(insn);
            m_program.push_back(make(Op::lddw_tail, 0, 0, 0, static_cast<int32_t>(imm64 >> 32)));
            return {};
        }
        if (row.kind == Kind::Exit && !m_first_exit) m_first_exit = m_program.size();
        if (label) m_pending.push_back({m_program.size(), m_line, std::move(*label)});
        m_program.push_back(insn);
        return {};
    }

    static bool classes_match(std::string_view text, Operand operand) {
        bool is_reg = text.starts_with('%');
        bool is_mem = text.starts_with('[');
        switch (operand) {
            case Operand::Dst:
            case Operand::Src:
                return is_reg;
            case Operand::SrcMem:
            case Operand::DstMem:
                return is_mem;
            default:
                return !is_reg && !is_mem;
        }
    }

    Result<uint8_t> reg(std::string_view text) const {
        if (text.starts_with("%r")) {
            auto number = parse_number(text.substr(2));
            if (number && !number->negative && !number->hex && number->magnitude < kRegisterCount &&
                text.size() > 2 && text[2] != '+')
                return static_cast<uint8_t>(number->magnitude);
        }
        return Error(EINVAL, "Invalid register: " + std::string(text));
    }

    Result<int32_t> imm32(std::string_view text) const {
        auto number = parse_number(text);
        if (!number) return Error(EINVAL, "Invalid immediate: " + std::string(text));
        auto value = fit(*number, 32);
        if (!value) return Error(EINVAL, "Immediate out of 32-bit range: " + std::string(text));
        return static_cast<int32_t>(static_cast<uint32_t>(*value));
    }

    Result<int16_t> offset16(std::string_view text) const {
        auto number = parse_number(text);
        if (!number) return Error(EINVAL, "Invalid offset: " + std::string(text));
        auto value = fit(*number, 16);
        if (!value) return Error(EINVAL, "Offset out of 16-bit range: " + std::string(text));
        return static_cast<int16_t>(static_cast<uint16_t>(*value));
    }

    struct BaseOffset {
        uint8_t base;
        int16_t offset;
    };

    // [%rN], [%rN+off], [%rN-off]
    Result<BaseOffset> memory(std::string_view text) const {
        auto refuse = [&] {
            return Error(EINVAL, "Failed to decode register and offset: " + std::string(text));
        };
        if (!text.starts_with('[') || !text.ends_with(']')) return refuse();
        std::string_view inner = trim(text.substr(1, text.size() - 2));
        size_t sign = inner.find_first_of("+-");
        BaseOffset result{};
        result.base = CRIB_TRY(reg(trim(inner.substr(0, sign))));
        if (sign != std::string_view::npos) {
            std::string offset_text;
            offset_text += inner[sign];
            offset_text += trim(inner.substr(sign + 1));
            result.offset = CRIB_TRY(offset16(offset_text));
        }
        return result;
    }

    std::vector<Insn> m_program;
    std::unordered_map<std::string, size_t> m_labels;
    std::vector<Pending> m_pending;
    std::optional<size_t> m_first_exit;  // upstream's implicit `exit` label
    int m_line = 0;
};

}  // namespace

Result<std::vector<Insn>> assemble(std::string_view source) {
    return Assembler().run(source);
}

std::string_view strip_line_prefix(std::string_view message) {
    if (!message.starts_with("line ")) return message;
    size_t colon = message.find(": ");
    return colon == std::string_view::npos ? message : message.substr(colon + 2);
}

}  // namespace crib::isa
