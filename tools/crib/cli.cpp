#include "cli.hpp"

#include <cctype>
#include <cstdio>
#include <fstream>
#include <iterator>

namespace crib::cli {

int report(const Common& common, const Error& error) {
    if (common.json) {
        print_json(Json{{"error", error.to_string()}, {"errno", errno_name(error.code())}});
    } else {
        std::fprintf(stderr, "crib: %s\n", error.to_string().c_str());
    }
    return 1;
}

void print_json(const Json& document) {
    std::printf("%s\n", document.dump(2).c_str());
}

Result<std::vector<uint8_t>> parse_hex(std::string_view text) {
    std::vector<uint8_t> bytes;
    int high = -1;
    for (size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (std::isspace(static_cast<unsigned char>(c))) continue;
        if (c == '0' && i + 1 < text.size() && (text[i + 1] == 'x' || text[i + 1] == 'X') &&
            high < 0) {
            ++i;
            continue;
        }
        if (!std::isxdigit(static_cast<unsigned char>(c)))
            return make_error(EINVAL, "hex input: '{}' at position {} is not a hex digit", c, i);
        int nibble =
            std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : (std::tolower(c) - 'a' + 10);
        if (high < 0) {
            high = nibble;
        } else {
            bytes.push_back(static_cast<uint8_t>(high << 4 | nibble));
            high = -1;
        }
    }
    if (high >= 0) return make_error(EINVAL, "hex input has an odd number of digits");
    return bytes;
}

Result<std::vector<uint8_t>> read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in)
        return make_error(errno ? errno : ENOENT, "cannot open '{}': {}", path,
                          std::strerror(errno));
    return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

std::string to_hex(const void* data, size_t size) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(size * 3);
    const auto* bytes = static_cast<const uint8_t*>(data);
    for (size_t i = 0; i < size; ++i) {
        if (i) out += ' ';
        out += kDigits[bytes[i] >> 4];
        out += kDigits[bytes[i] & 0xf];
    }
    return out;
}

Result<runtime::Engine> parse_engine(const std::string& name) {
    if (name == "interp") return runtime::Engine::Interp;
    if (name == "jit") return runtime::Engine::Jit;
    return make_error(EINVAL, "unknown engine '{}' (interp or jit)", name);
}

}  // namespace crib::cli
