// Writes the seed corpus of fuzz_image_read: the tests' sample image, and a
// minimal one, encoded as core.img bytes into the directory given.
#include <cstdio>
#include <fstream>

#include "crib/image/image.hpp"
#include "crib/image/sample_image.hpp"

namespace {

bool write_seed(const std::string& path, const crib::image::Image& image) {
    auto bytes = crib::image::encode_core(image);
    if (!bytes) {
        std::fprintf(stderr, "crib_image_seeds: %s\n", bytes.error().to_string().c_str());
        return false;
    }
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(bytes->data()), std::streamsize(bytes->size()));
    return bool(out);
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: crib_image_seeds DIR\n");
        return 2;
    }
    std::string dir = argv[1];
    crib::image::Image minimal;
    minimal.process.threads.resize(1);
    minimal.process.threads[0].tid = 1;
    bool ok = write_seed(dir + "/rich.img", crib::image::test_data::rich_image()) &&
              write_seed(dir + "/minimal.img", minimal);
    return ok ? 0 : 1;
}
