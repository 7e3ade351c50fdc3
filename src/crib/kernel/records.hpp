// Turning the iterators' binary records (bpf/collect/collect_records.h)
// into the image model: the kernel's encodings translated once, to the
// same values the procfs collector reads from /proc and syscalls.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>

#include "base/result.hpp"
#include "crib/image/model.hpp"

namespace crib::kernel {

// Decodes every record in `bytes` (the output of one or more iterators over
// process `pid`) into `out`: Task fields, per-thread tid, altstack and
// clear_child_tid (threads not yet in out.threads are appended), VMAs and
// files (appended in the kernel's order). A truncated or unknown record is
// an error naming its offset.
Result<void> decode_records(std::span<const uint8_t> bytes, pid_t pid, image::Process& out);

}  // namespace crib::kernel
