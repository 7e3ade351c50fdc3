/* memory: dense memory rewritten all the time, sparse memory, read-only and
 * PROT_NONE regions with contents, a private file mapping with a few written
 * pages and a shared anonymous region, each with its own pattern. */
#include "workload.h"

#include <sys/mman.h>

enum {
    kPage = 4096,
    kBlockBytes = 64 << 10,
    kDenseBlocks = 256, /* 16 MiB */
    kSparseBytes = 64 << 20,
    kSparseStride = 16, /* every 16th page written */
    kReadOnlyBytes = 1 << 20,
    kNoneBytes = 256 << 10,
    kFilePages = 16,
    kSharedBytes = 1 << 20,
};

static const int kWrittenFilePages[] = {2, 5, 11};

static void* map_anon(size_t bytes, int flags) {
    void* p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, flags | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) wl_die("mmap");
    return p;
}

static int file_page_written(int page) {
    for (size_t i = 0; i < sizeof kWrittenFilePages / sizeof kWrittenFilePages[0]; i++)
        if (kWrittenFilePages[i] == page) return 1;
    return 0;
}

int main(int argc, char** argv) {
    wl_init(argc, argv);
    const size_t dense_bytes = (size_t)kDenseBlocks * kBlockBytes;
    struct wl_blocks dense;
    wl_blocks_init(&dense, map_anon(dense_bytes, MAP_PRIVATE), dense_bytes, kBlockBytes, 0xde);

    char* sparse = map_anon(kSparseBytes, MAP_PRIVATE);
    for (size_t off = 0; off < kSparseBytes; off += kSparseStride * kPage)
        wl_fill((uint64_t*)(sparse + off), kPage / 8, 0x5000 + off);

    uint64_t* readonly = map_anon(kReadOnlyBytes, MAP_PRIVATE);
    wl_fill(readonly, kReadOnlyBytes / 8, 0x7777);
    if (mprotect(readonly, kReadOnlyBytes, PROT_READ) != 0) wl_die("mprotect read");

    uint64_t* none = map_anon(kNoneBytes, MAP_PRIVATE);
    wl_fill(none, kNoneBytes / 8, 0x6666);
    if (mprotect(none, kNoneBytes, PROT_NONE) != 0) wl_die("mprotect none");

    int file = open(wl_path("mapped.dat"), O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (file < 0) wl_die("mapped.dat");
    static uint64_t page_buf[kPage / 8];
    for (int p = 0; p < kFilePages; p++) {
        wl_fill(page_buf, kPage / 8, 0xf11e0000 + p);
        wl_write_all(file, page_buf, kPage, "mapped.dat");
    }
    char* mapped = mmap(NULL, kFilePages * kPage, PROT_READ | PROT_WRITE, MAP_PRIVATE, file, 0);
    if (mapped == MAP_FAILED) wl_die("mmap mapped.dat");
    close(file); /* the mapping alone keeps the file */
    for (int p = 0; p < kFilePages; p++)
        if (file_page_written(p)) wl_fill((uint64_t*)(mapped + p * kPage), kPage / 8, 0xd1f7 + p);

    uint64_t* shared = map_anon(kSharedBytes, MAP_SHARED);
    wl_fill(shared, kSharedBytes / 8, 0x5a5a);

    wl_ready();
    do wl_blocks_step(&dense);
    while (!wl_check_due());

    wl_blocks_verify(&dense, "dense region");
    for (size_t off = 0; off < kSparseBytes && !wl.failure[0]; off += kPage) {
        const uint64_t* words = (const uint64_t*)(sparse + off);
        if (off % (kSparseStride * kPage) == 0) {
            WL_EXPECT(wl_verify(words, kPage / 8, 0x5000 + off) == kPage / 8,
                      "sparse page at +%#zx differs", off);
        } else {
            for (size_t i = 0; i < kPage / 8; i++)
                if (words[i] != 0) {
                    wl_fail("untouched sparse page at +%#zx is not zero", off);
                    break;
                }
        }
    }
    WL_EXPECT(wl_verify(readonly, kReadOnlyBytes / 8, 0x7777) == kReadOnlyBytes / 8,
              "read-only region differs");
    wl_expect_perms(readonly, "r--p", "read-only region");
    wl_expect_perms(none, "---p", "PROT_NONE region");
    if (mprotect(none, kNoneBytes, PROT_READ) != 0) wl_fail("mprotect PROT_NONE region: %m");
    WL_EXPECT(wl_verify(none, kNoneBytes / 8, 0x6666) == kNoneBytes / 8,
              "PROT_NONE region lost its contents");
    for (int p = 0; p < kFilePages; p++) {
        uint64_t seed = file_page_written(p) ? 0xd1f7u + p : 0xf11e0000u + p;
        WL_EXPECT(wl_verify((uint64_t*)(mapped + p * kPage), kPage / 8, seed) == kPage / 8,
                  "private file mapping page %d (%s) differs", p,
                  file_page_written(p) ? "written" : "from the file");
    }
    wl_expect_perms(mapped, "rw-p", "private file mapping");
    file = open(wl_path("mapped.dat"), O_RDONLY | O_CLOEXEC);
    WL_EXPECT(file >= 0, "mapped.dat: %m");
    for (int p = 0; p < kFilePages && file >= 0; p++) {
        if (pread(file, page_buf, kPage, (off_t)p * kPage) != kPage) wl_fail("mapped.dat short");
        WL_EXPECT(wl_verify(page_buf, kPage / 8, 0xf11e0000 + p) == kPage / 8,
                  "mapped.dat page %d changed on disk (private writes leaked)", p);
    }
    WL_EXPECT(wl_verify(shared, kSharedBytes / 8, 0x5a5a) == kSharedBytes / 8,
              "shared anonymous region differs");
    wl_expect_perms(shared, "rw-s", "shared anonymous region");
    wl_finish();
}
