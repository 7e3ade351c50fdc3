#include "crib/image/pages.hpp"

#include <xxhash.h>

namespace crib::image {

uint64_t page_checksum(const void* data, uint64_t length) {
    return XXH3_64bits(data, length);
}

std::string pages_path(const std::string& dir) {
    return dir + "/" + kPagesFileName;
}

}  // namespace crib::image
