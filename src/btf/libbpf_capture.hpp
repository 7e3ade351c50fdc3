// libbpf explains a refusal (bad BTF, a CO-RE relocation it could not
// resolve, the kernel verifier's log) by printing it; libraries here never
// print. While a LibbpfCapture lives, what libbpf says on this thread is
// kept, in order, for libbpf_error's message instead of reaching stderr.
#pragma once

#include <string>
#include <string_view>

#include "base/result.hpp"

namespace crib::btf {

class LibbpfCapture {
public:
    enum class Levels {
        Warnings,   // warnings and info: what explains a failed load
        WithDebug,  // debug too: libbpf reports bad BTF headers there
    };

    explicit LibbpfCapture(Levels levels = Levels::Warnings);
    ~LibbpfCapture();
    LibbpfCapture(const LibbpfCapture&) = delete;
    LibbpfCapture& operator=(const LibbpfCapture&) = delete;

    // Everything caught on this thread since the innermost live guard
    // began, without libbpf's prefix, lines joined by "; " (capped at a
    // few KiB: the cause is rarely at the very end of a verifier log).
    static const std::string& said();

private:
    Levels m_outer;  // restored when a nested guard ends
};

// An error with code `err` (negative or positive errno; EINVAL when 0)
// saying `what`, and why in libbpf's words when a guard caught any.
Error libbpf_error(int err, std::string_view what);

}  // namespace crib::btf
