/* demo: the all-in-one of the CRIB issue's "done when": four counting
 * threads, a large checksummed heap (DIR [MiB], default 64), a file at an
 * offset, a pipe with bytes in flight, an eventfd, a blocked SIGHUP pending,
 * handlers for SIGUSR1 and for a 100 ms itimer's SIGALRM. It prints a line a
 * second to its stdout file so a person can watch it carry on after a
 * restore; DIR/check makes it verify all of that as every workload does. */
#include <pthread.h>
#include <stdatomic.h>
#include <sys/eventfd.h>
#include "workload.h"

enum { kWorkers = 4, kBlockBytes = 64 << 10, kInFlight = 5000, kOffset = 1000, kTimerUs = 100000 };

static pid_t tids[kWorkers];
static _Atomic uint64_t counters[kWorkers];
static atomic_int stop;
static volatile sig_atomic_t alarms;
static int tid_changed[kWorkers];

static void on_alarm(int sig) {
    (void)sig;
    alarms++;
}

static void* worker(void* arg) {
    int index = (int)(intptr_t)arg;
    __atomic_store_n(&tids[index], wl_gettid(), __ATOMIC_RELEASE);
    while (!atomic_load(&stop)) {
        atomic_fetch_add(&counters[index], 1);
        if (index % 2) wl_sleep_ms(1); /* half spin, half sleep */
    }
    tid_changed[index] = wl_gettid() != tids[index];
    return NULL;
}

int main(int argc, char** argv) {
    wl_init(argc, argv);
    size_t mib = argc > 2 ? strtoul(argv[2], NULL, 10) : 64;
    void* memory = malloc(mib << 20);
    if (!memory) wl_die("malloc");
    struct wl_blocks heap;
    wl_blocks_init(&heap, memory, mib << 20, kBlockBytes, 0xde70);

    int file = open(wl_path("data.bin"), O_RDWR | O_CREAT | O_TRUNC, 0644);
    if (file < 0 || ftruncate(file, 1 << 16) != 0) wl_die("data.bin");
    lseek(file, kOffset, SEEK_SET);
    int pipefd[2];
    if (pipe(pipefd) != 0) wl_die("pipe");
    static unsigned char bytes[kInFlight];
    for (size_t i = 0; i < kInFlight; i++) bytes[i] = wl_pattern_byte(0xde, i);
    wl_write_all(pipefd[1], bytes, kInFlight, "pipe");
    int efd = eventfd(11, 0);
    if (efd < 0) wl_die("eventfd");

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, NULL);
    sigset_t blocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGHUP);
    sigprocmask(SIG_BLOCK, &blocked, NULL);
    kill(wl.pid, SIGHUP);
    struct itimerval timer = {{0, kTimerUs}, {0, kTimerUs}};
    setitimer(ITIMER_REAL, &timer, NULL);

    pthread_t threads[kWorkers];
    for (int t = 0; t < kWorkers; t++)
        if (pthread_create(&threads[t], NULL, worker, (void*)(intptr_t)t) != 0)
            wl_die("pthread_create");
    for (int t = 0; t < kWorkers; t++)
        while (__atomic_load_n(&tids[t], __ATOMIC_ACQUIRE) == 0) wl_sleep_ms(1);

    wl_ready();
    uint64_t next_line = wl_now_ns(), seconds = 0, rewrites = 0;
    while (!wl_check_due()) {
        wl_blocks_step(&heap);
        rewrites++;
        if (wl_now_ns() >= next_line) {
            printf(
                "demo pid %d: second %llu, %zu MiB heap, %llu blocks rewritten, counters %llu "
                "%llu %llu %llu, %d alarms\n",
                (int)wl_getpid(), (unsigned long long)seconds++, mib, (unsigned long long)rewrites,
                (unsigned long long)counters[0], (unsigned long long)counters[1],
                (unsigned long long)counters[2], (unsigned long long)counters[3], (int)alarms);
            next_line += 1000000000ull;
        }
    }

    uint64_t before[kWorkers];
    for (int t = 0; t < kWorkers; t++) before[t] = counters[t];
    sig_atomic_t alarms_before = alarms;
    wl_sleep_ms(300);
    for (int t = 0; t < kWorkers; t++)
        WL_EXPECT(counters[t] > before[t], "worker %d stopped counting", t);
    WL_EXPECT(alarms > alarms_before, "SIGALRM from the itimer stopped");
    atomic_store(&stop, 1);
    for (int t = 0; t < kWorkers; t++) pthread_join(threads[t], NULL);
    for (int t = 0; t < kWorkers; t++) WL_EXPECT(!tid_changed[t], "worker %d changed tid", t);

    wl_blocks_verify(&heap, "heap");
    WL_EXPECT(lseek(file, 0, SEEK_CUR) == kOffset, "data.bin offset %ld, expected %d",
              (long)lseek(file, 0, SEEK_CUR), kOffset);
    static unsigned char got[kInFlight + 1];
    fcntl(pipefd[0], F_SETFL, O_NONBLOCK);
    WL_EXPECT(read(pipefd[0], got, sizeof got) == kInFlight && memcmp(got, bytes, kInFlight) == 0,
              "pipe lost its %d bytes in flight", kInFlight);
    uint64_t count = 0;
    fcntl(efd, F_SETFL, O_NONBLOCK); /* a lost count must fail, not hang */
    WL_EXPECT(read(efd, &count, 8) == 8 && count == 11, "eventfd count %llu, expected 11",
              (unsigned long long)count);
    sigset_t mask, pending;
    sigprocmask(SIG_BLOCK, NULL, &mask);
    sigpending(&pending);
    WL_EXPECT(sigismember(&mask, SIGHUP), "SIGHUP is no longer blocked");
    WL_EXPECT(sigismember(&pending, SIGHUP), "blocked SIGHUP is no longer pending");
    sigaction(SIGALRM, NULL, &sa);
    WL_EXPECT(sa.sa_handler == on_alarm, "SIGALRM handler lost");
    wl_finish();
}
