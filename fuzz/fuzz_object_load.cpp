// libFuzzer entry: any byte string must load or fail with an error, never
// crash, hang or allocate without bound.
#include <bpf/libbpf.h>

#include <cstddef>
#include <cstdint>

#include "object/object.hpp"

namespace {

int quiet(enum libbpf_print_level, const char*, va_list) { return 0; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    static const bool kInit = [] {
        libbpf_set_print(quiet);
        return true;
    }();
    (void)kInit;
    crib::object::LoadOptions options;
    // Never reach for the host's vmlinux: keep runs deterministic and fast.
    options.core_against_self = true;
    auto object = crib::object::load_object({data, size}, "fuzz.o", options);
    (void)object;
    return 0;
}
