// libFuzzer entry: any byte string must load or fail with an error, never
// crash, hang or allocate without bound.
#include <cstddef>
#include <cstdint>

#include "object/object.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    crib::object::LoadOptions options;
    // Never reach for the host's vmlinux: keep runs deterministic and fast.
    options.core_against_self = true;
    auto object = crib::object::load_object({data, size}, "fuzz.o", options);
    (void)object;
    return 0;
}
