/* files: a read-write file at an offset, a read-only file read along in the
 * loop, an O_APPEND log written in the loop, an O_CLOEXEC fd, a directory
 * fd, /dev/null, and an fd at a high number. Offsets, flags, identities and
 * contents are checked after the restore. */
#include <sys/sysmacros.h>
#include "workload.h"

enum { kHighFd = 100, kDataBytes = 64 << 10, kRwOffset = 12345, kLine = 16 };

struct Opened {
    const char* name;
    int fd;
    int flags; /* F_GETFL as it must stay (access mode, O_APPEND, O_NONBLOCK) */
    int cloexec;
    ino_t ino;
};

static void record(struct Opened* f) {
    struct stat st;
    if (fstat(f->fd, &st) != 0) wl_die(f->name);
    f->ino = st.st_ino;
    f->flags = fcntl(f->fd, F_GETFL) & (O_ACCMODE | O_APPEND | O_NONBLOCK);
    f->cloexec = fcntl(f->fd, F_GETFD) & FD_CLOEXEC;
}

static void expect_same(const struct Opened* f) {
    struct stat st;
    if (fstat(f->fd, &st) != 0) {
        wl_fail("%s: fd %d is closed", f->name, f->fd);
        return;
    }
    WL_EXPECT(st.st_ino == f->ino, "%s: fd %d now inode %lu, was %lu", f->name, f->fd,
              (unsigned long)st.st_ino, (unsigned long)f->ino);
    int flags = fcntl(f->fd, F_GETFL) & (O_ACCMODE | O_APPEND | O_NONBLOCK);
    WL_EXPECT(flags == f->flags, "%s: fd %d flags %#o, was %#o", f->name, f->fd, flags, f->flags);
    int cloexec = fcntl(f->fd, F_GETFD) & FD_CLOEXEC;
    WL_EXPECT(cloexec == f->cloexec, "%s: fd %d FD_CLOEXEC %d, was %d", f->name, f->fd, cloexec,
              f->cloexec);
}

static int open_or_die(const char* path, int flags) {
    int fd = open(path, flags, 0644);
    if (fd < 0) wl_die(path);
    return fd;
}

int main(int argc, char** argv) {
    wl_init(argc, argv);
    static unsigned char data[kDataBytes];
    for (size_t i = 0; i < kDataBytes; i++) data[i] = wl_pattern_byte(0, i);
    int fd = open_or_die(wl_path("data.bin"), O_WRONLY | O_CREAT | O_TRUNC);
    wl_write_all(fd, data, kDataBytes, "data.bin");
    close(fd);

    struct Opened rw = {"rw.bin", open_or_die(wl_path("rw.bin"), O_RDWR | O_CREAT | O_TRUNC)};
    wl_write_all(rw.fd, data, kDataBytes, "rw.bin");
    lseek(rw.fd, kRwOffset, SEEK_SET);
    struct Opened ro = {"data.bin", open_or_die(wl_path("data.bin"), O_RDONLY)};
    struct Opened log = {"log.txt",
                         open_or_die(wl_path("log.txt"), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND)};
    struct Opened cloexec = {"data.bin (cloexec)",
                             open_or_die(wl_path("data.bin"), O_RDONLY | O_CLOEXEC)};
    lseek(cloexec.fd, 777, SEEK_SET);
    struct Opened dir = {"dir", open_or_die(wl.dir, O_RDONLY | O_DIRECTORY)};
    struct Opened null = {"/dev/null", open_or_die("/dev/null", O_WRONLY | O_NONBLOCK)};
    int high = open_or_die(wl_path("data.bin"), O_RDONLY);
    if (dup2(high, kHighFd) != kHighFd) wl_die("dup2");
    close(high);
    struct Opened high_fd = {"data.bin (fd 100)", kHighFd};
    lseek(kHighFd, 4000, SEEK_SET);
    struct Opened* all[] = {&rw, &ro, &log, &cloexec, &dir, &null, &high_fd};
    const size_t count = sizeof all / sizeof all[0];
    for (size_t i = 0; i < count; i++) record(all[i]);

    wl_ready();
    /* the loop reads data.bin along (wrapping) and appends numbered lines */
    uint64_t lines = 0;
    off_t ro_pos = 0;
    for (;;) {
        unsigned char byte;
        if (ro_pos == kDataBytes) ro_pos = lseek(ro.fd, 0, SEEK_SET);
        if (read(ro.fd, &byte, 1) != 1 || byte != data[ro_pos]) {
            wl_fail("data.bin: read at %ld gave the wrong byte", (long)ro_pos);
            break;
        }
        ro_pos++;
        if (ro_pos % 512 == 0) {
            char line[kLine + 1];
            snprintf(line, sizeof line, "%015llu\n", (unsigned long long)lines);
            wl_write_all(log.fd, line, kLine, "log.txt");
            lines++;
        }
        if (wl_check_due()) break;
    }

    for (size_t i = 0; i < count; i++) expect_same(all[i]);
    WL_EXPECT(lseek(rw.fd, 0, SEEK_CUR) == kRwOffset, "rw.bin offset %ld, expected %d",
              (long)lseek(rw.fd, 0, SEEK_CUR), kRwOffset);
    WL_EXPECT(lseek(ro.fd, 0, SEEK_CUR) == ro_pos, "data.bin offset %ld, expected %ld",
              (long)lseek(ro.fd, 0, SEEK_CUR), (long)ro_pos);
    WL_EXPECT(lseek(cloexec.fd, 0, SEEK_CUR) == 777, "cloexec fd offset %ld, expected 777",
              (long)lseek(cloexec.fd, 0, SEEK_CUR));
    unsigned char byte = 0;
    WL_EXPECT(read(kHighFd, &byte, 1) == 1 && byte == data[4000], "fd 100 did not read at 4000");
    unsigned char rw_byte = 0;
    WL_EXPECT(read(rw.fd, &rw_byte, 1) == 1 && rw_byte == data[kRwOffset],
              "rw.bin did not read its byte at %d", kRwOffset);
    WL_EXPECT(write(rw.fd, "Z", 1) == 1, "rw.bin is not writable: %m");

    /* O_APPEND: a write lands at the end whatever the offset */
    wl_write_all(log.fd, "end............\n", kLine, "log.txt");
    struct stat st;
    fstat(log.fd, &st);
    WL_EXPECT(st.st_size == (off_t)((lines + 1) * kLine), "log.txt is %ld bytes, expected %llu",
              (long)st.st_size, (unsigned long long)((lines + 1) * kLine));

    struct stat by_name;
    WL_EXPECT(fstatat(dir.fd, "data.bin", &by_name, 0) == 0 && by_name.st_ino == ro.ino,
              "directory fd does not resolve data.bin to the same file");
    fstat(null.fd, &st);
    WL_EXPECT(S_ISCHR(st.st_mode) && st.st_rdev == makedev(1, 3), "fd %d is not /dev/null",
              null.fd);
    WL_EXPECT(write(null.fd, "x", 1) == 1, "/dev/null write failed: %m");
    wl_finish();
}
