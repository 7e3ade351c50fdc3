/* heap: DIR [MiB]: a large malloc'd heap (default 64 MiB) in 64 KiB blocks
 * rewritten round-robin, plus 1 MiB of small allocations in the brk heap;
 * every block checked after the restore. */
#include "workload.h"

enum { kBlockBytes = 64 << 10, kSmall = 256, kSmallBytes = 4000 };

int main(int argc, char** argv) {
    wl_init(argc, argv);
    size_t mib = argc > 2 ? strtoul(argv[2], NULL, 10) : 64;
    size_t bytes = mib << 20;
    void* memory = malloc(bytes);
    if (!memory) wl_die("malloc");
    struct wl_blocks heap;
    wl_blocks_init(&heap, memory, bytes, kBlockBytes, 0x4ea9);
    uint64_t* small[kSmall];
    for (int i = 0; i < kSmall; i++) {
        small[i] = malloc(kSmallBytes);
        if (!small[i]) wl_die("malloc");
        wl_fill(small[i], kSmallBytes / 8, 0x5a11 + i);
    }

    wl_ready();
    do wl_blocks_step(&heap);
    while (!wl_check_due());

    wl_blocks_verify(&heap, "heap");
    for (int i = 0; i < kSmall; i++)
        WL_EXPECT(wl_verify(small[i], kSmallBytes / 8, 0x5a11 + i) == kSmallBytes / 8,
                  "small allocation %d at %p differs", i, (void*)small[i]);
    char perms[5] = "";
    WL_EXPECT(wl_maps_perms(small[0], perms) == 0, "small allocations are not mapped");
    wl_finish();
}
