// libFuzzer entry for core.img: any byte string must decode or be refused
// with an error, never crash, hang or allocate without bound. What decodes
// must also encode again to an equal image and render as JSON and text.
// Each input is tried as given (the checksums' turn) and with every checksum
// recomputed (the field decoders' turn, which random bytes rarely reach).
#include <cstddef>
#include <cstdint>

#include "crib/image/forge.hpp"
#include "crib/image/image.hpp"
#include "crib/image/render.hpp"

namespace {

void try_decode(std::span<const uint8_t> bytes) {
    auto image = crib::image::decode_core(bytes);
    if (!image) return;
    auto again = crib::image::encode_core(*image);
    if (!again) __builtin_trap();
    auto decoded = crib::image::decode_core(*again);
    if (!decoded || !(*decoded == *image)) __builtin_trap();
    (void)crib::image::to_json(*image).dump();
    (void)crib::image::describe(*image);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    try_decode({data, size});
    crib::image::test_data::Bytes resealed(data, data + size);
    crib::image::test_data::reseal_all(resealed);
    try_decode(resealed);
    return 0;
}
