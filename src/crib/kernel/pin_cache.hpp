// The collector's programs kept loaded in the kernel between crib runs:
// pinned in bpffs under <root>/<key>/<program name>, where the key hashes
// the object's bytes and the kernel's release, so a later run (a new
// process) takes them with bpf_obj_get and skips libbpf's CO-RE pass and
// the kernel's verifier, which are nearly all of a small collection's time.
//
// Left on the system: one directory per crib build and kernel under
// /sys/fs/bpf/crib holding three pinned programs (and through them their
// scratch map), until reboot or `rm -r /sys/fs/bpf/crib`.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crib/kernel/fd.hpp"

namespace crib::kernel {

inline constexpr std::string_view kPinRoot = "/sys/fs/bpf/crib";

// 16 hex digits naming `object` as loaded on this kernel (its bytes, the
// kernel release and build string, the pin layout's version).
std::string pin_key(std::span<const uint8_t> object);

struct PinnedPrograms {
    Fd dir;                    // <root>/<key>: locked while a program runs
    std::vector<Fd> programs;  // in the order of the names asked for
};

// The programs pinned under <root>/<key>, or nullopt when the directory is
// not there or not usable: not owned by us or writable by others, a name
// missing, or not a BPF program. Only a complete, trusted set is taken.
std::optional<PinnedPrograms> open_pinned(std::string_view root, std::string_view key,
                                          std::span<const std::string_view> names);

// Pins `programs` (named by `names`) under <root>/<key> for later runs. The
// set is pinned in a private directory and renamed into place, so readers
// see all of it or nothing; an unusable directory in the way is removed
// first. Returns the published directory, or nullopt when these programs
// were not published: no bpffs at root, no permission, or another process
// published its own first (ours then stay private to this process).
std::optional<Fd> publish_pinned(std::string_view root, std::string_view key,
                                 std::span<const std::string_view> names,
                                 std::span<const int> programs);

}  // namespace crib::kernel
