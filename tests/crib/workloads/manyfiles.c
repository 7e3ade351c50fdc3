/* manyfiles: DIR [N]: N open fds (default 1000) over 16 files, fd i at
 * offset i % 8192 of file i % 16. RLIMIT_NOFILE's soft limit is raised to
 * the hard one when N needs it. */
#include "workload.h"

#include <sys/resource.h>

enum { kFiles = 16, kFileBytes = 8192 };

int main(int argc, char** argv) {
    wl_init(argc, argv);
    size_t n = argc > 2 ? strtoul(argv[2], NULL, 10) : 1000;
    struct rlimit limit;
    getrlimit(RLIMIT_NOFILE, &limit);
    if (limit.rlim_cur < n + 64) {
        limit.rlim_cur = limit.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &limit) != 0) wl_die("setrlimit RLIMIT_NOFILE");
    }
    ino_t inodes[kFiles];
    static unsigned char zeros[kFileBytes];
    for (int f = 0; f < kFiles; f++) {
        char name[32];
        snprintf(name, sizeof name, "file%02d", f);
        int fd = open(wl_path(name), O_RDWR | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) wl_die(name);
        wl_write_all(fd, zeros, sizeof zeros, name);
        struct stat st;
        fstat(fd, &st);
        inodes[f] = st.st_ino;
        close(fd);
    }
    int* fds = malloc(n * sizeof *fds);
    if (!fds) wl_die("malloc");
    for (size_t i = 0; i < n; i++) {
        char name[32];
        snprintf(name, sizeof name, "file%02zu", i % kFiles);
        fds[i] = open(wl_path(name), (i % 2 ? O_RDONLY : O_RDWR) | (i % 3 ? O_CLOEXEC : 0));
        if (fds[i] < 0) wl_die(name);
        lseek(fds[i], (off_t)(i % kFileBytes), SEEK_SET);
    }

    wl_ready();
    while (!wl_check_requested()) wl_sleep_ms(1);

    for (size_t i = 0; i < n && !wl.failure[0]; i++) {
        struct stat st;
        WL_EXPECT(fstat(fds[i], &st) == 0 && st.st_ino == inodes[i % kFiles],
                  "fd %d is not file%02zu", fds[i], i % kFiles);
        off_t pos = lseek(fds[i], 0, SEEK_CUR);
        WL_EXPECT(pos == (off_t)(i % kFileBytes), "fd %d at offset %ld, expected %zu", fds[i],
                  (long)pos, i % kFileBytes);
        int flags = fcntl(fds[i], F_GETFL) & O_ACCMODE;
        WL_EXPECT(flags == (i % 2 ? O_RDONLY : O_RDWR), "fd %d access mode %d", fds[i], flags);
        int cloexec = fcntl(fds[i], F_GETFD) & FD_CLOEXEC;
        WL_EXPECT(cloexec == (i % 3 ? FD_CLOEXEC : 0), "fd %d FD_CLOEXEC %d", fds[i], cloexec);
    }
    wl_finish();
}
