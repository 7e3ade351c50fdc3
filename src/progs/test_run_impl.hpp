// Per-type BPF_PROG_RUN functions the program-type table points at.
// Internal to src/progs: callers go through progs::test_run.
#pragma once

#include "progs/prog_types.hpp"

namespace crib::progs::detail {

Result<TestRunResult> test_run_crib(const ProgTypeInfo& type, const TestRunAttr& attr,
                                    const RunFn& run, uint32_t max_ctx_offset);
Result<TestRunResult> test_run_syscall(const ProgTypeInfo& type, const TestRunAttr& attr,
                                       const RunFn& run, uint32_t max_ctx_offset);
Result<TestRunResult> test_run_xdp(const ProgTypeInfo& type, const TestRunAttr& attr,
                                   const RunFn& run, uint32_t max_ctx_offset);

}  // namespace crib::progs::detail
