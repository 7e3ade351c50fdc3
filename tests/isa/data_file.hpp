// Just enough of the conformance .data format for the ISA tests: the text
// of each `-- name` section. The full parser lives in tools/conformance/,
// which this layer may not depend on.
#pragma once

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

namespace crib::isa::testing {

inline std::map<std::string, std::string> read_sections(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::map<std::string, std::string> sections;
    std::string line;
    std::string* current = nullptr;
    while (std::getline(in, line)) {
        if (line.starts_with("-- ")) {
            current = &sections[line.substr(3)];
            continue;
        }
        if (current) *current += line + "\n";
    }
    return sections;
}

inline std::vector<std::filesystem::path> data_files(const std::string& folder) {
    std::vector<std::filesystem::path> files;
    for (const auto& entry :
         std::filesystem::directory_iterator(std::filesystem::path(CRIB_CONFORMANCE_DIR) / folder))
        if (entry.path().extension() == ".data") files.push_back(entry.path());
    std::sort(files.begin(), files.end());
    return files;
}

// `-- raw` holds either bytes ("07 00 ...") or 64-bit little-endian words
// ("0x5566778800000018").
inline std::vector<uint8_t> raw_bytes(const std::string& text) {
    std::vector<uint8_t> bytes;
    std::istringstream in(text);
    std::string token;
    while (in >> token) {
        if (token.starts_with("#")) {
            std::getline(in, token);
            continue;
        }
        if (token.starts_with("0x") && token.size() > 4) {
            uint64_t word = std::stoull(token, nullptr, 16);
            for (int i = 0; i < 8; ++i) bytes.push_back(static_cast<uint8_t>(word >> (8 * i)));
        } else {
            bytes.push_back(static_cast<uint8_t>(std::stoul(token, nullptr, 16)));
        }
    }
    return bytes;
}

}  // namespace crib::isa::testing
