/* The workload protocol: what a CRIB test program promises its harness.
 *
 * Start:  <workload> DIR [size arguments]. stdin is /dev/null, stdout and
 *         stderr are files in DIR (never pipes to the harness: a pipe whose
 *         other end lives outside the process cannot be restored). The
 *         harness starts it in a session of its own (setsid).
 * Ready:  the workload builds its state, records its pid and thread ids,
 *         then creates DIR/ready and enters its loop, touching its state all
 *         the time (counters, checksummed memory being rewritten, data moving
 *         through pipes) so that a dump catches it mid-work.
 * Check:  the harness creates DIR/check (after `crib restore`, or after
 *         `crib dump --leave-running`). The workload answers with
 *         DIR/checking, which tells the harness its code runs again (a
 *         process still being restored must not get signals), and the harness
 *         sends SIGUSR1 once. Every workload counts SIGUSR1 in an
 *         SA_SIGINFO|SA_RESTART handler installed at start, so a handler lost
 *         in the dump kills it. The workload waits (at most kSignalWaitMs)
 *         for that signal, verifies everything it owns, and writes
 *         DIR/result: "ok\n" or "fail: <what>\n" (the first failure). It
 *         then exits 0 or 1.
 *         The exception is idle, which sleeps in pause(2) so that two dumps
 *         see the same registers: it looks for DIR/check only when SIGUSR1
 *         wakes it, so the harness signals it without waiting for
 *         DIR/checking (idle is only ever checked while running unharmed).
 * Common checks (wl_finish): getpid() and gettid() of the main thread equal
 *         the values recorded at start, the SIGUSR1 handler is still
 *         installed with its flags and was called (by kill(2)).
 *
 * Each workload is one .c file including this header; the helpers are
 * static so that every program stays a single translation unit. */
#ifndef CRIB_WORKLOAD_H
#define CRIB_WORKLOAD_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* CMake defines it for every workload: includes come in any order */
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum { kSignalWaitMs = 5000, kCheckPollMs = 2 };

struct wl_state {
    const char* dir;
    pid_t pid; /* recorded at start: the restored process must keep it */
    pid_t tid;
    char failure[512];
    volatile sig_atomic_t usr1_count;
    volatile sig_atomic_t usr1_code; /* SI_USER: sent by kill(2) */
    uint64_t next_poll_ns;
};

static struct wl_state wl;

static inline pid_t wl_gettid(void) {
    return (pid_t)syscall(SYS_gettid);
}
static inline pid_t wl_getpid(void) {
    return (pid_t)syscall(SYS_getpid);
}

static inline uint64_t wl_now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static inline void wl_sleep_ms(unsigned ms) {
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* A setup step that must not fail: the workload cannot run without it. */
static inline void wl_die(const char* what) {
    fprintf(stderr, "workload setup: %s: %s\n", what, strerror(errno));
    exit(2);
}

static inline const char* wl_path(const char* name) {
    static char paths[8][4096];
    static unsigned next;
    char* path = paths[next++ % 8];
    snprintf(path, sizeof paths[0], "%s/%s", wl.dir, name);
    return path;
}

/* Records the first failure only: later ones are usually its consequences. */
static inline void wl_fail(const char* fmt, ...) {
    if (wl.failure[0]) return;
    va_list args;
    va_start(args, fmt);
    vsnprintf(wl.failure, sizeof wl.failure, fmt, args);
    va_end(args);
}

#define WL_EXPECT(cond, ...)               \
    do {                                   \
        if (!(cond)) wl_fail(__VA_ARGS__); \
    } while (0)

static inline void wl_on_usr1(int sig, siginfo_t* info, void* uc) {
    (void)sig;
    (void)uc;
    wl.usr1_code = info->si_code;
    wl.usr1_count++;
}

static inline void wl_write_file(const char* name, const char* text) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", wl_path(name));
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) wl_die(tmp);
    size_t len = strlen(text);
    if (write(fd, text, len) != (ssize_t)len) wl_die(tmp);
    close(fd);
    /* rename: the harness never sees a half-written file */
    if (rename(tmp, wl_path(name)) != 0) wl_die(name);
}

static inline void wl_init(int argc, char** argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s DIR [args]\n", argv[0]);
        exit(2);
    }
    wl.dir = argv[1];
    wl.pid = wl_getpid();
    wl.tid = wl_gettid();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = wl_on_usr1;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    if (sigaction(SIGUSR1, &sa, NULL) != 0) wl_die("sigaction SIGUSR1");
    setvbuf(stdout, NULL, _IOLBF, 0);
}

static inline void wl_ready(void) {
    char text[64];
    snprintf(text, sizeof text, "%d\n", (int)wl.pid);
    wl_write_file("ready", text);
}

static inline int wl_check_requested(void) {
    if (access(wl_path("check"), F_OK) != 0) return 0;
    if (access(wl_path("checking"), F_OK) != 0) wl_write_file("checking", "");
    return 1;
}

/* For hot loops: looks for DIR/check at most every kCheckPollMs. */
static inline int wl_check_due(void) {
    uint64_t now = wl_now_ns();
    if (now < wl.next_poll_ns) return 0;
    wl.next_poll_ns = now + kCheckPollMs * 1000000ull;
    return wl_check_requested();
}

static inline void wl_wait_for_usr1(void) {
    for (unsigned waited = 0; wl.usr1_count == 0 && waited < kSignalWaitMs; waited++)
        wl_sleep_ms(1);
}

/* Common checks, then DIR/result and exit. */
static inline void wl_finish(void) {
    wl_wait_for_usr1();
    WL_EXPECT(wl_getpid() == wl.pid, "pid %d, was %d at start", (int)wl_getpid(), (int)wl.pid);
    WL_EXPECT(wl_gettid() == wl.tid, "main tid %d, was %d", (int)wl_gettid(), (int)wl.tid);
    struct sigaction sa;
    sigaction(SIGUSR1, NULL, &sa);
    WL_EXPECT(sa.sa_sigaction == wl_on_usr1, "SIGUSR1 handler %p, expected %p",
              (void*)sa.sa_sigaction, (void*)wl_on_usr1);
    WL_EXPECT((sa.sa_flags & (SA_SIGINFO | SA_RESTART)) == (SA_SIGINFO | SA_RESTART),
              "SIGUSR1 flags %#x", sa.sa_flags);
    WL_EXPECT(wl.usr1_count >= 1, "SIGUSR1 from the harness never arrived");
    WL_EXPECT(wl.usr1_count == 0 || wl.usr1_code == SI_USER, "SIGUSR1 with si_code %d",
              (int)wl.usr1_code);
    char text[600];
    if (wl.failure[0])
        snprintf(text, sizeof text, "fail: %s\n", wl.failure);
    else
        snprintf(text, sizeof text, "ok\n");
    wl_write_file("result", text);
    fputs(text, stdout);
    exit(wl.failure[0] ? 1 : 0);
}

/* Memory patterns: a word is a function of (seed, index), so any word can
 * be checked without a copy. splitmix64's finaliser. */
static inline uint64_t wl_mix(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

static inline void wl_fill(uint64_t* words, size_t count, uint64_t seed) {
    for (size_t i = 0; i < count; i++) words[i] = wl_mix(seed ^ (i * 0x100000001b3ull));
}

/* Index of the first word that differs from the pattern, or count. */
static inline size_t wl_verify(const uint64_t* words, size_t count, uint64_t seed) {
    for (size_t i = 0; i < count; i++)
        if (words[i] != wl_mix(seed ^ (i * 0x100000001b3ull))) return i;
    return count;
}

/* Byte i of the pattern stream seed: for files and pipes. */
static inline unsigned char wl_pattern_byte(uint64_t seed, size_t i) {
    return (unsigned char)(wl_mix(seed + i / 8) >> (i % 8 * 8));
}

/* Memory cut into blocks that the loop rewrites one after the other, each
 * with a new generation: a dump catches some block half rewritten, and the
 * restored process must finish it and find every block consistent. */
struct wl_blocks {
    uint64_t* words;
    size_t count, block_words, next;
    uint64_t* generation;
    uint64_t seed;
};

static inline uint64_t wl_block_seed(const struct wl_blocks* b, size_t block) {
    return b->seed ^ ((uint64_t)block << 40) ^ b->generation[block];
}

static inline void wl_blocks_init(struct wl_blocks* b, void* memory, size_t bytes,
                                  size_t block_bytes, uint64_t seed) {
    b->words = memory;
    b->block_words = block_bytes / 8;
    b->count = bytes / block_bytes;
    b->next = 0;
    b->seed = seed;
    b->generation = calloc(b->count ? b->count : 1, sizeof *b->generation);
    if (!b->generation) wl_die("calloc");
    for (size_t i = 0; i < b->count; i++)
        wl_fill(b->words + i * b->block_words, b->block_words, wl_block_seed(b, i));
}

static inline void wl_blocks_step(struct wl_blocks* b) {
    size_t i = b->next;
    b->generation[i]++;
    wl_fill(b->words + i * b->block_words, b->block_words, wl_block_seed(b, i));
    b->next = (i + 1) % b->count;
}

static inline void wl_blocks_verify(const struct wl_blocks* b, const char* what) {
    for (size_t i = 0; i < b->count; i++) {
        size_t at = wl_verify(b->words + i * b->block_words, b->block_words, wl_block_seed(b, i));
        if (at != b->block_words) {
            wl_fail("%s: block %zu of %zu (generation %llu) differs at byte %zu", what, i, b->count,
                    (unsigned long long)b->generation[i], at * 8);
            return;
        }
    }
}

/* Writes all of buf, retrying short writes. */
static inline void wl_write_all(int fd, const void* buf, size_t len, const char* what) {
    const char* p = buf;
    while (len > 0) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) wl_die(what);
        p += n;
        len -= (size_t)n;
    }
}

/* The perms column ("rw-p") of the /proc/self/maps line covering addr. */
static inline int wl_maps_perms(const void* addr, char perms[5]) {
    FILE* maps = fopen("/proc/self/maps", "re");
    if (!maps) return -1;
    char line[512];
    int found = -1;
    while (fgets(line, sizeof line, maps)) {
        unsigned long start, end;
        char p[5];
        if (sscanf(line, "%lx-%lx %4s", &start, &end, p) != 3) continue;
        if ((unsigned long)addr >= start && (unsigned long)addr < end) {
            memcpy(perms, p, 5);
            found = 0;
            break;
        }
    }
    fclose(maps);
    return found;
}

static inline void wl_expect_perms(const void* addr, const char* expected, const char* what) {
    char perms[5] = "";
    if (wl_maps_perms(addr, perms) != 0)
        wl_fail("%s at %p: not mapped", what, addr);
    else
        WL_EXPECT(strcmp(perms, expected) == 0, "%s at %p: perms %s, expected %s", what, addr,
                  perms, expected);
}

#endif
