/* idle: a process that holds a bit of everything but does nothing between
 * ready and check: two threads blocked in read(2), main in pause(2). Two
 * dumps of it (--leave-running) must give the same metadata, which is what
 * the collector comparison needs. It holds a file at an offset, a pipe with
 * bytes in flight, an eventfd at 5, a blocked SIGHUP pending and 1 MiB of
 * patterned memory. The harness's SIGUSR1 wakes main from pause(2). */
#include "workload.h"

#include <pthread.h>
#include <sys/eventfd.h>

enum { kThreads = 2, kMemoryBytes = 1 << 20, kInFlight = 1000, kOffset = 4321 };

static int wake[2];
static pid_t tids[kThreads];
static volatile int woke[kThreads];

static void* sleeper(void* arg) {
    int index = (int)(intptr_t)arg;
    tids[index] = wl_gettid();
    char byte;
    while (read(wake[0], &byte, 1) < 0 && errno == EINTR) {
    }
    woke[index] = wl_gettid() == tids[index] ? 1 : -1;
    return NULL;
}

int main(int argc, char** argv) {
    wl_init(argc, argv);
    uint64_t* memory = malloc(kMemoryBytes);
    if (!memory) wl_die("malloc");
    wl_fill(memory, kMemoryBytes / 8, 0x1d1e);
    int file = open(wl_path("file.bin"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (file < 0 || ftruncate(file, 8192) != 0) wl_die("file.bin");
    lseek(file, kOffset, SEEK_SET);
    int data[2];
    if (pipe(data) != 0 || pipe(wake) != 0) wl_die("pipe");
    unsigned char bytes[kInFlight];
    for (size_t i = 0; i < kInFlight; i++) bytes[i] = wl_pattern_byte(9, i);
    wl_write_all(data[1], bytes, kInFlight, "pipe");
    int efd = eventfd(5, EFD_CLOEXEC);
    if (efd < 0) wl_die("eventfd");
    sigset_t blocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGHUP);
    sigprocmask(SIG_BLOCK, &blocked, NULL);
    kill(wl.pid, SIGHUP);
    pthread_t threads[kThreads];
    for (int t = 0; t < kThreads; t++)
        if (pthread_create(&threads[t], NULL, sleeper, (void*)(intptr_t)t) != 0)
            wl_die("pthread_create");
    for (int t = 0; t < kThreads; t++)
        while (__atomic_load_n(&tids[t], __ATOMIC_ACQUIRE) == 0) wl_sleep_ms(1);
    wl_sleep_ms(20); /* let them reach read(2): the dumps must see them idle */

    wl_ready();
    while (!wl_check_requested()) pause();

    wl_write_all(wake[1], "ww", 2, "wake pipe");
    for (int t = 0; t < kThreads; t++) pthread_join(threads[t], NULL);
    for (int t = 0; t < kThreads; t++)
        WL_EXPECT(woke[t] == 1, "thread %d (tid %d) woke %s", t, (int)tids[t],
                  woke[t] ? "under another tid" : "never");
    WL_EXPECT(wl_verify(memory, kMemoryBytes / 8, 0x1d1e) == kMemoryBytes / 8, "memory differs");
    WL_EXPECT(lseek(file, 0, SEEK_CUR) == kOffset, "file.bin offset %ld, expected %d",
              (long)lseek(file, 0, SEEK_CUR), kOffset);
    unsigned char got[kInFlight + 1];
    fcntl(data[0], F_SETFL, O_NONBLOCK);
    WL_EXPECT(read(data[0], got, sizeof got) == kInFlight && memcmp(got, bytes, kInFlight) == 0,
              "pipe lost its %d bytes in flight", kInFlight);
    uint64_t count = 0;
    fcntl(efd, F_SETFL, O_NONBLOCK); /* a lost count must fail, not hang */
    WL_EXPECT(read(efd, &count, 8) == 8 && count == 5, "eventfd count %llu, expected 5",
              (unsigned long long)count);
    sigset_t pending;
    sigpending(&pending);
    WL_EXPECT(sigismember(&pending, SIGHUP), "blocked SIGHUP is no longer pending");
    wl_finish();
}
