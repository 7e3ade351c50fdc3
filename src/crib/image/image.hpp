// core.img: everything about a dumped process except its page contents
// (pages.img), in the format docs/image-format.md describes. Writes are
// atomic; reads check every byte and refuse a corrupt, truncated or newer
// image with the file and offset at fault.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "crib/image/model.hpp"

namespace crib::image {

// Bumped when the layout of an existing record changes. New record kinds
// leave it alone: they are marked optional or refused by older readers by
// their tag (see docs/image-format.md, "Versioning").
inline constexpr uint32_t kFormatVersion = 1;

inline constexpr std::string_view kCoreFile = "core.img";

// A core.img larger than this is refused before it is read: the largest real
// ones hold a few pipe buffers and register sets.
inline constexpr uint64_t kMaxCoreBytes = uint64_t{256} << 20;

struct Image {
    Process process;
    DumpInfo info;
    bool operator==(const Image&) const = default;
};

// The bytes of core.img for an image. Fails only for a value the format
// cannot hold (a string or list of 4 GiB or more).
Result<std::vector<uint8_t>> encode_core(const Image& image);

// Decodes core.img bytes. `file` names the source in error messages
// ("DIR/core.img: offset 1234: record 'vma' checksum mismatch").
Result<Image> decode_core(std::span<const uint8_t> bytes, std::string_view file = kCoreFile);

// DIR/core.img, written to a temporary file, synced and renamed over, so a
// crash leaves either the old file or the whole new one. DIR must exist.
Result<void> write_core(const std::string& dir, const Image& image);

// Reads and decodes DIR/core.img; ENOENT ("no image in DIR") if it is absent.
Result<Image> read_core(const std::string& dir);

// Bytes of a mapping saved in pages.img (the sum of its runs).
uint64_t saved_bytes(const Vma& vma);

}  // namespace crib::image
