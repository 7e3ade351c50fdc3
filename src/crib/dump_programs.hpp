// The CRIB dump programs (bpf/dump.bpf.c), built by clang with crib and
// embedded in the library, so a dump needs no file beside the binary.
#pragma once

#include <array>
#include <memory>
#include <span>

#include "base/result.hpp"
#include "runtime/runtime.hpp"

namespace crib::dump {

// In the order a dump runs them: threads before the signals queued on them,
// files before their pipe bytes.
inline constexpr std::array kDumpPrograms = {"dump_task", "dump_threads", "dump_signals",
                                             "dump_vmas", "dump_files",   "dump_pipe_data"};

std::span<const uint8_t> dump_programs_object();
Result<std::unique_ptr<runtime::LoadedObject>> load_dump_programs(
    const runtime::LoadOptions& options);

}  // namespace crib::dump
