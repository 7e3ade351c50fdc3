// The helpers conformance programs call (bpf_conformance's test helpers).
#pragma once

#include <cstdint>

#include "exec/program.hpp"

namespace crib::conformance {

// Helper 5 returns r1 and, when that is 0, ends the program with r0 = 0.
inline constexpr int32_t kUnwindHelper = 5;

// gather_bytes (0), memfrob (1), no_op (2), sqrti (3), strcmp_ext (4),
// unwind (5); other ids are unknown and refused at compile time.
exec::Imports helper_imports();

}  // namespace crib::conformance
