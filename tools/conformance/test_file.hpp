// The bpf_conformance .data format: `-- asm`, `-- raw`, `-- mem`,
// `-- result`, `-- error`, and sections that are only commentary
// (`-- c`, `-- no register offset`).
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace crib::conformance {

struct TestCase {
    std::string name;                         // file name, for reports
    std::optional<std::string> source;        // -- asm
    std::optional<std::vector<uint8_t>> raw;  // -- raw, as wire bytes
    std::vector<uint8_t> memory;              // -- mem
    std::optional<uint64_t> result;           // -- result: expected r0
    std::optional<std::string> error;         // -- error: expected refusal text
};

// Parses the text of a .data file. Refuses an unknown `-- ` directive (as
// the upstream runner skips such files) and malformed hex.
Result<TestCase> parse_test(std::string_view text, std::string name);
Result<TestCase> load_test(const std::filesystem::path& path);

// Space-separated hex bytes ("aa bb 0c"), the plugin protocol's encoding.
Result<std::vector<uint8_t>> parse_hex_bytes(std::string_view text);

}  // namespace crib::conformance
