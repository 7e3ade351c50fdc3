// File descriptors, rebuilt in the restoring child before its address space
// is replaced: each saved fd reopened (or recreated: pipes, eventfds) at its
// number with its flags and offset, and nothing else left open but the
// child's own helper fds, moved above the highest saved number.
#pragma once

#include <vector>

#include "base/result.hpp"
#include "crib/image/model.hpp"

namespace crib::restore {

// `helpers` are fds the child still needs; they are renumbered in place.
Result<void> restore_files(const std::vector<image::FileDesc>& files, std::vector<int*> helpers);

}  // namespace crib::restore
