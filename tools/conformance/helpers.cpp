#include "helpers.hpp"

#include <array>
#include <cstring>

namespace crib::conformance {
namespace {

uint64_t gather_bytes(uint64_t r1, uint64_t r2, uint64_t r3, uint64_t r4, uint64_t r5) {
    return (r1 & 0xff) << 32 | (r2 & 0xff) << 24 | (r3 & 0xff) << 16 | (r4 & 0xff) << 8 |
           (r5 & 0xff);
}

uint64_t memfrob(uint64_t r1, uint64_t r2, uint64_t, uint64_t, uint64_t) {
    auto* bytes = reinterpret_cast<uint8_t*>(r1);
    for (uint64_t i = 0; i < r2; ++i) bytes[i] ^= 42;
    return 0;
}

uint64_t no_op(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t) {
    return 0;
}

// Integer square root by Newton's method: exact for every 64-bit input,
// where a double's 53-bit mantissa would round large values.
uint64_t sqrti(uint64_t r1, uint64_t, uint64_t, uint64_t, uint64_t) {
    if (r1 < 2) return r1;
    uint64_t x = r1;
    uint64_t y = (x + 1) / 2;
    while (y < x) {
        x = y;
        y = (x + r1 / x) / 2;
    }
    return x;
}

uint64_t strcmp_ext(uint64_t r1, uint64_t r2, uint64_t, uint64_t, uint64_t) {
    return static_cast<uint64_t>(static_cast<int64_t>(
        std::strcmp(reinterpret_cast<const char*>(r1), reinterpret_cast<const char*>(r2))));
}

uint64_t unwind(uint64_t r1, uint64_t, uint64_t, uint64_t, uint64_t) {
    return r1;
}

constexpr std::array<isa::HelperFn, 6> kHelpers{gather_bytes, memfrob,    no_op,
                                                sqrti,        strcmp_ext, unwind};
static_assert(kUnwindHelper == 5);

}  // namespace

exec::Imports helper_imports() {
    exec::Imports imports;
    imports.helper = [](int32_t id) -> isa::HelperFn {
        if (id < 0 || static_cast<size_t>(id) >= kHelpers.size()) return nullptr;
        return kHelpers[static_cast<size_t>(id)];
    };
    imports.kfunc = [](int32_t, int16_t) -> isa::HelperFn { return nullptr; };
    return imports;
}

}  // namespace crib::conformance
