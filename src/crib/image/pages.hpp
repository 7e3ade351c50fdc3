// pages.img: the saved memory contents of a process. One header page
// (magic, version, page size), then page runs back to back, each starting on
// a page boundary so the file can be written with O_DIRECT and mapped or read
// straight into place on restore. Which bytes belong to which address is kept
// in the Vmas' PageRun lists (address, length, file_offset, XXH3-64 checksum);
// pages.img itself holds nothing but the header and the bytes.
#pragma once

#include <cstdint>
#include <string>

#include "crib/image/model.hpp"

namespace crib::image {

inline constexpr const char* kPagesFileName = "pages.img";
inline constexpr uint32_t kPagesVersion = 1;
inline constexpr uint64_t kPagesDataOffset = kPageSize;  // the header takes the first page

// XXH3-64 of bytes, the PageRun checksum.
uint64_t page_checksum(const void* data, uint64_t length);

// The first bytes of the header page.
struct PagesHeader {
    char magic[8];
    uint32_t version;
    uint32_t page_size;
};
inline constexpr char kPagesMagic[8] = {'C', 'R', 'I', 'B', 'P', 'A', 'G', 'E'};

std::string pages_path(const std::string& dir);

inline bool page_aligned(uint64_t value) {
    return value % kPageSize == 0;
}

}  // namespace crib::image
