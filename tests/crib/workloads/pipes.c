/* pipes: bytes in flight in pipes whose both ends the process holds: 3000
 * bytes in a plain pipe, 100 in a non-blocking one, a full 64 KiB pipe, and
 * a stream of sequence numbers the loop keeps pushing through a fourth pipe
 * (so how much is in flight at the dump is anyone's guess). After the
 * restore each pipe must hold exactly its bytes, in order, keep its flags,
 * and its two ends must still be one pipe. */
#include "workload.h"

enum { kPlainBytes = 3000, kNonblockBytes = 100, kStreamMaxWords = 4000 };

struct Pipe {
    const char* name;
    int fds[2];
    int flags[2];
    uint64_t seed;
    size_t bytes; /* in flight at setup */
};

static void fill_pipe(struct Pipe* p, size_t bytes) {
    unsigned char buf[4096];
    size_t done = 0;
    while (done < bytes) {
        size_t chunk = bytes - done < sizeof buf ? bytes - done : sizeof buf;
        for (size_t i = 0; i < chunk; i++) buf[i] = wl_pattern_byte(p->seed, done + i);
        ssize_t n = write(p->fds[1], buf, chunk);
        if (n < 0 && errno == EAGAIN) break; /* full */
        if (n <= 0) wl_die(p->name);
        done += (size_t)n;
    }
    p->bytes = done;
}

static void set_nonblock(int fd) {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

/* Reads everything in flight (non-blocking) into buf; returns the count. */
static size_t drain(int fd, unsigned char* buf, size_t cap) {
    set_nonblock(fd);
    size_t got = 0;
    while (got < cap) {
        ssize_t n = read(fd, buf + got, cap - got);
        if (n <= 0) break;
        got += (size_t)n;
    }
    return got;
}

static void check_pipe(struct Pipe* p) {
    for (int end = 0; end < 2; end++) {
        int flags = fcntl(p->fds[end], F_GETFL);
        WL_EXPECT(flags >= 0, "%s: fd %d is closed", p->name, p->fds[end]);
        WL_EXPECT((flags & (O_ACCMODE | O_NONBLOCK)) == p->flags[end],
                  "%s: fd %d flags %#o, was %#o", p->name, p->fds[end],
                  flags & (O_ACCMODE | O_NONBLOCK), p->flags[end]);
    }
    static unsigned char buf[1 << 17];
    size_t got = drain(p->fds[0], buf, sizeof buf);
    WL_EXPECT(got == p->bytes, "%s: %zu bytes in flight, expected %zu", p->name, got, p->bytes);
    for (size_t i = 0; i < got && i < p->bytes; i++)
        if (buf[i] != wl_pattern_byte(p->seed, i)) {
            wl_fail("%s: byte %zu of the data in flight differs", p->name, i);
            break;
        }
    WL_EXPECT(write(p->fds[1], "ping", 4) == 4, "%s: write end does not write: %m", p->name);
    char ping[8] = "";
    WL_EXPECT(read(p->fds[0], ping, sizeof ping) == 4 && memcmp(ping, "ping", 4) == 0,
              "%s: the two ends are no longer one pipe", p->name);
}

static void open_pipe(struct Pipe* p, int flags) {
    if (pipe2(p->fds, flags) != 0) wl_die("pipe2");
    for (int end = 0; end < 2; end++)
        p->flags[end] = fcntl(p->fds[end], F_GETFL) & (O_ACCMODE | O_NONBLOCK);
}

int main(int argc, char** argv) {
    wl_init(argc, argv);
    struct Pipe plain = {"plain pipe", .seed = 0x1000};
    struct Pipe nonblock = {"non-blocking pipe", .seed = 0x2000};
    struct Pipe full = {"full pipe", .seed = 0x3000};
    open_pipe(&plain, 0);
    open_pipe(&nonblock, O_NONBLOCK);
    open_pipe(&full, 0);
    fill_pipe(&plain, kPlainBytes);
    fill_pipe(&nonblock, kNonblockBytes);
    set_nonblock(full.fds[1]);
    full.flags[1] |= O_NONBLOCK;
    fill_pipe(&full, SIZE_MAX);

    int stream[2];
    if (pipe(stream) != 0) wl_die("pipe");
    uint64_t written = 0, read_words = 0;

    wl_ready();
    for (;;) {
        uint64_t words[3] = {written, written + 1, written + 2};
        wl_write_all(stream[1], words, sizeof words, "stream pipe");
        written += 3;
        size_t take = written - read_words > kStreamMaxWords ? 64 : 2;
        uint64_t in[64];
        size_t got = 0;
        while (got < take * 8) {
            ssize_t n = read(stream[0], (char*)in + got, take * 8 - got);
            if (n <= 0) wl_die("stream read");
            got += (size_t)n;
        }
        for (size_t i = 0; i < take; i++)
            if (in[i] != read_words++)
                wl_fail("stream pipe: word %llu out of order",
                        (unsigned long long)(read_words - 1));
        if (wl.failure[0] || wl_check_due()) break;
    }

    check_pipe(&plain);
    check_pipe(&nonblock);
    check_pipe(&full);
    static uint64_t rest[kStreamMaxWords + 128];
    size_t got = drain(stream[0], (unsigned char*)rest, sizeof rest) / 8;
    WL_EXPECT(got == written - read_words, "stream pipe: %zu words in flight, expected %llu", got,
              (unsigned long long)(written - read_words));
    for (size_t i = 0; i < got; i++)
        if (rest[i] != read_words + i) {
            wl_fail("stream pipe: in-flight word %zu is %llu, expected %llu", i,
                    (unsigned long long)rest[i], (unsigned long long)(read_words + i));
            break;
        }
    wl_finish();
}
