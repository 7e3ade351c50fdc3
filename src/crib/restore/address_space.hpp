// The restoring child's side of the address-space swap: it stages every
// saved mapping (with its contents) in a hole that is free both in the saved
// layout and in its own, copies the restorer blob there with the argument
// block and stacks, and reports where to jump.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "crib/image/model.hpp"

namespace crib::restore {

// A mapping of the calling process, from /proc/self/maps.
struct OwnMapping {
    uint64_t start = 0, end = 0;
    std::string name;  // path or [bracketed] name, empty for anonymous
};

Result<std::vector<OwnMapping>> read_own_maps();

// A kernel-provided mapping of this process ([vdso], [vvar], [vvar_vclock])
// and where the image wants it (0: the image has none, unmap it).
struct SpecialMove {
    std::string name;
    uint64_t current = 0, size = 0, final = 0;
};

// Pairs this process's special mappings with the saved ones by name; refuses
// a saved one the running kernel lacks or has at another size.
Result<std::vector<SpecialMove>> match_special_mappings(const image::Process& process,
                                                        const std::vector<OwnMapping>& own);

struct StagedRestorer {
    uint64_t hole_start = 0, hole_end = 0;
    uint64_t entry = 0;  // jump here with rsp = stack, rdi = args
    uint64_t stack = 0;
    uint64_t args = 0;
};

struct StageFds {
    int close_fd = -1;  // closed by the restorer (the status pipe)
    int exe_fd = -1;    // for PR_SET_MM_MAP; -1 leaves the exe link alone
};

Result<StagedRestorer> stage_address_space(const image::Process& process,
                                           const std::string& pages_dir, const StageFds& fds);

}  // namespace crib::restore
