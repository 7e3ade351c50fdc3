// An image for scripts (JSON) and for people (text): what `crib show DIR
// [--json]` prints. Both read the image only; neither touches pages.img.
#pragma once

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "crib/image/image.hpp"

namespace crib::image {

struct Totals {
    uint64_t threads = 0, vmas = 0, files = 0;
    uint64_t page_runs = 0, saved_bytes = 0;  // what pages.img holds
    uint64_t pending_signals = 0;             // shared and per thread
};

Totals totals(const Image& image);

// Every field, walked from the same description the binary format uses:
// {"format_version", "info", "task", "threads", "vmas", "files", "totals"}.
// Addresses and masks are hex strings; signal sets are lists of names;
// registers, sigactions, rlimits and itimers are objects keyed by name; flag
// words are numbers with a "<field>_text" companion ("prot": 3,
// "prot_text": "rw-"); mappings carry "perms" ("rw-p") and "saved_bytes".
// Strings that are not UTF-8 (paths may be anything) have the bad bytes
// replaced by U+FFFD.
nlohmann::ordered_json to_json(const Image& image);

// The image as a person reads it: task, credentials, limits, sigactions
// that are not default, pending signals, itimers, mm layout, threads with
// their main registers and masks, mappings in /proc/PID/maps style with the
// bytes saved for each, files, totals. Lines end in '\n'.
std::string describe(const Image& image);

}  // namespace crib::image
