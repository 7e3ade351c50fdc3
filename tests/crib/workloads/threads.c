/* threads: four threads besides main. A spinner counts, a sleeper counts
 * between 1 ms nanosleeps, a reader is blocked in read(2) on a pipe and a
 * waiter in FUTEX_WAIT. At check time the counters must still advance, the
 * blocked ones must wake on the byte / the wake-up main sends, every thread
 * must keep its tid, and pthread_join must return (clear_child_tid). */
#include "workload.h"

#include <linux/futex.h>
#include <pthread.h>
#include <stdatomic.h>

enum { kSpinner, kSleeper, kReader, kWaiter, kThreads };
static const char* const kNames[kThreads] = {"spinner", "sleeper", "reader", "waiter"};

static pid_t tids[kThreads];
static _Atomic uint64_t counters[kThreads];
static atomic_int stop;
static atomic_int futex_word;
static int wake_pipe[2];
static char thread_failure[kThreads][128];

static void check_tid(int t) {
    pid_t now = wl_gettid();
    if (now != tids[t] && thread_failure[t][0] == 0)
        snprintf(thread_failure[t], sizeof thread_failure[0], "tid %d, was %d", (int)now,
                 (int)tids[t]);
}

static void* spinner(void* arg) {
    (void)arg;
    tids[kSpinner] = wl_gettid();
    while (!atomic_load(&stop)) atomic_fetch_add(&counters[kSpinner], 1);
    check_tid(kSpinner);
    return NULL;
}

static void* sleeper(void* arg) {
    (void)arg;
    tids[kSleeper] = wl_gettid();
    while (!atomic_load(&stop)) {
        wl_sleep_ms(1);
        atomic_fetch_add(&counters[kSleeper], 1);
    }
    check_tid(kSleeper);
    return NULL;
}

static void* reader(void* arg) {
    (void)arg;
    tids[kReader] = wl_gettid();
    char byte = 0;
    ssize_t n;
    while ((n = read(wake_pipe[0], &byte, 1)) < 0 && errno == EINTR) {
    }
    if (n != 1 || byte != 'w')
        snprintf(thread_failure[kReader], sizeof thread_failure[0],
                 "read on the pipe returned %zd, byte %#x", n, byte);
    check_tid(kReader);
    atomic_fetch_add(&counters[kReader], 1);
    return NULL;
}

static void* waiter(void* arg) {
    (void)arg;
    tids[kWaiter] = wl_gettid();
    while (atomic_load(&futex_word) == 0)
        syscall(SYS_futex, &futex_word, FUTEX_WAIT_PRIVATE, 0, NULL, NULL, 0);
    check_tid(kWaiter);
    atomic_fetch_add(&counters[kWaiter], 1);
    return NULL;
}

static uint64_t count(int t) {
    return atomic_load(&counters[t]);
}

int main(int argc, char** argv) {
    wl_init(argc, argv);
    if (pipe2(wake_pipe, O_CLOEXEC) != 0) wl_die("pipe");
    void* (*const bodies[kThreads])(void*) = {spinner, sleeper, reader, waiter};
    pthread_t threads[kThreads];
    for (int t = 0; t < kThreads; t++)
        if (pthread_create(&threads[t], NULL, bodies[t], NULL) != 0) wl_die("pthread_create");
    for (int t = 0; t < kThreads; t++)
        while (__atomic_load_n(&tids[t], __ATOMIC_ACQUIRE) == 0) wl_sleep_ms(1);
    pid_t started[kThreads];
    memcpy(started, tids, sizeof started);
    /* the blocked threads are in their syscalls by now, most likely; the
     * check does not depend on it */
    wl_ready();

    uint64_t main_count = 0;
    while (!wl_check_due()) main_count++;

    uint64_t before_spin = count(kSpinner), before_sleep = count(kSleeper);
    wl_sleep_ms(100);
    WL_EXPECT(count(kSpinner) > before_spin, "spinner counter stuck at %llu",
              (unsigned long long)before_spin);
    WL_EXPECT(count(kSleeper) > before_sleep, "sleeper counter stuck at %llu",
              (unsigned long long)before_sleep);
    WL_EXPECT(count(kReader) == 0 && count(kWaiter) == 0, "a blocked thread woke early");
    WL_EXPECT(main_count > 0, "main loop never ran");

    wl_write_all(wake_pipe[1], "w", 1, "wake pipe");
    atomic_store(&futex_word, 1);
    syscall(SYS_futex, &futex_word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
    for (int waited = 0; waited < 2000 && (count(kReader) == 0 || count(kWaiter) == 0); waited++)
        wl_sleep_ms(1);
    WL_EXPECT(count(kReader) == 1, "reader blocked in read(2) did not get the byte");
    WL_EXPECT(count(kWaiter) == 1, "waiter blocked in FUTEX_WAIT did not wake");

    /* each thread must still exist under its tid */
    for (int t = 0; t < kThreads; t++) {
        char path[64];
        snprintf(path, sizeof path, "/proc/self/task/%d", (int)started[t]);
        WL_EXPECT(t == kReader || t == kWaiter || access(path, F_OK) == 0,
                  "%s thread %d is gone from /proc/self/task", kNames[t], (int)started[t]);
    }
    atomic_store(&stop, 1);
    /* a restore that loses clear_child_tid hangs here: the harness times out */
    for (int t = 0; t < kThreads; t++) pthread_join(threads[t], NULL);
    for (int t = 0; t < kThreads; t++)
        WL_EXPECT(thread_failure[t][0] == 0, "%s: %s", kNames[t], thread_failure[t]);
    wl_finish();
}
