// The restorer blob (restorer/*.c, built by CMakeLists.txt): position
// independent code that jumps in at CRIB_RST_ENTRY_OFFSET with rdi pointing
// at a struct crib_rst_args (restorer/abi.h).
#pragma once

#include <span>

namespace crib::restore {

std::span<const unsigned char> restorer_blob();

}  // namespace crib::restore
