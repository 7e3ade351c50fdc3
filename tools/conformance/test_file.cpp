#include "test_file.hpp"

#include <charconv>
#include <fstream>
#include <sstream>

namespace crib::conformance {
namespace {

enum class Section { None, Asm, Raw, Mem, Result, Error, Ignored };

struct Directive {
    std::string_view name;
    Section section;
};
constexpr Directive kDirectives[] = {
    {"asm", Section::Asm},
    {"raw", Section::Raw},
    {"mem", Section::Mem},
    {"result", Section::Result},
    {"error", Section::Error},
    {"c", Section::Ignored},
    {"no register offset", Section::Ignored},
};

std::string_view trim(std::string_view text) {
    size_t begin = text.find_first_not_of(" \t\r");
    if (begin == std::string_view::npos) return {};
    return text.substr(begin, text.find_last_not_of(" \t\r") - begin + 1);
}

Result<uint64_t> parse_u64(std::string_view text, int base) {
    uint64_t value = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
    if (ec != std::errc{} || end != text.data() + text.size())
        return make_error(EINVAL, "bad number '{}'", text);
    return value;
}

// Tokens of two hex digits are bytes; `0x` followed by 16 digits is one
// little-endian instruction word (lddw.data writes raw code that way).
Result<std::vector<uint8_t>> parse_raw(std::string_view text) {
    std::vector<uint8_t> bytes;
    std::istringstream in{std::string(text)};
    std::string token;
    while (in >> token) {
        if (token.starts_with("0x") && token.size() > 4) {
            uint64_t word = CRIB_TRY(parse_u64(std::string_view(token).substr(2), 16));
            for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<uint8_t>(word >> (8 * i)));
        } else {
            auto byte = CRIB_TRY(parse_hex_bytes(token));
            bytes.insert(bytes.end(), byte.begin(), byte.end());
        }
    }
    return bytes;
}

}  // namespace

Result<std::vector<uint8_t>> parse_hex_bytes(std::string_view text) {
    std::vector<uint8_t> bytes;
    std::istringstream in{std::string(text)};
    std::string token;
    while (in >> token) {
        std::string_view digits = token;
        if (digits.starts_with("0x")) digits.remove_prefix(2);
        auto value = parse_u64(digits, 16);
        if (!value || *value > 0xff) return make_error(EINVAL, "bad hex byte '{}'", token);
        bytes.push_back(static_cast<uint8_t>(*value));
    }
    return bytes;
}

Result<TestCase> parse_test(std::string_view text, std::string name) {
    TestCase test;
    test.name = std::move(name);
    Section section = Section::None;
    std::string asm_text, raw_text, mem_text, result_text, error_text;
    int line_number = 0;
    while (!text.empty()) {
        size_t newline = text.find('\n');
        std::string_view line = text.substr(0, newline);
        text = newline == std::string_view::npos ? std::string_view{} : text.substr(newline + 1);
        ++line_number;
        if (line.starts_with("--")) {
            std::string_view directive = trim(line.substr(2));
            section = Section::None;
            for (const Directive& known : kDirectives)
                if (known.name == directive) section = known.section;
            if (section == Section::None)
                return make_error(EINVAL, "line {}: unknown directive '{}'", line_number, line);
            // Blank lines up to the section keep assembler errors' line
            // numbers equal to the file's.
            if (section == Section::Asm && !test.source) {
                test.source.emplace();
                asm_text.assign(static_cast<size_t>(line_number), '\n');
            }
            if (section == Section::Raw) test.raw.emplace();
            continue;
        }
        // Comments run to the end of a line in every section but asm, where
        // the assembler strips them itself (keeping line numbers intact).
        std::string_view content = line;
        if (section != Section::Asm)
            if (size_t hash = content.find('#'); hash != std::string_view::npos)
                content = content.substr(0, hash);
        switch (section) {
            case Section::Asm:
                asm_text += std::string(line) + "\n";
                break;
            case Section::Raw:
                raw_text += std::string(content) + "\n";
                break;
            case Section::Mem:
                mem_text += std::string(content) + " ";
                break;
            case Section::Result:
                if (!trim(content).empty()) result_text = trim(content);
                break;
            case Section::Error:
                if (!trim(content).empty()) error_text = trim(content);
                break;
            case Section::None:
            case Section::Ignored:
                break;
        }
    }
    if (test.source) test.source = std::move(asm_text);
    if (test.raw) test.raw = CRIB_TRY(parse_raw(raw_text));
    test.memory = CRIB_TRY(parse_hex_bytes(mem_text));
    if (!result_text.empty()) {
        std::string_view digits = result_text;
        bool hex = digits.starts_with("0x");
        if (hex) digits.remove_prefix(2);
        test.result = CRIB_TRY(parse_u64(digits, hex ? 16 : 10));
    }
    if (!error_text.empty()) test.error = std::move(error_text);
    return test;
}

Result<TestCase> load_test(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return make_error(ENOENT, "cannot read {}", path.string());
    std::stringstream text;
    text << in.rdbuf();
    auto test = parse_test(text.str(), path.filename().string());
    if (!test)
        return Error(test.error().code(), path.filename().string() + ": " + test.error().message());
    return test;
}

}  // namespace crib::conformance
