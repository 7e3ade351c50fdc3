/* signals: handlers with SA_SIGINFO, SA_RESTART and SA_ONSTACK, a handler
 * mask, an ignored signal, a blocked mask, blocked signals pending both
 * process-wide (SIGHUP, a queued SIGRTMIN+3 with a value) and on the thread
 * (two queued SIGRTMIN+2 with values), an alternate signal stack and a 10 ms
 * ITIMER_REAL whose SIGALRMs must keep coming after a restore. */
#include <pthread.h>
#include "workload.h"

enum { kAltStackBytes = 64 << 10, kTimerUs = 10000, kMaxValues = 8 };

static char altstack[kAltStackBytes];
static volatile sig_atomic_t alarms, hups, hup_code = -99;
static volatile sig_atomic_t usr2_calls, usr2_on_altstack, usr2_sigint_blocked;
static volatile int rt2_values[kMaxValues];
static volatile sig_atomic_t rt2_count, rt3_count, rt3_value;

static void on_alarm(int sig) {
    (void)sig;
    alarms++;
}

static void on_hup(int sig, siginfo_t* info, void* uc) {
    (void)sig;
    (void)uc;
    hup_code = info->si_code;
    hups++;
}

static void on_usr2(int sig, siginfo_t* info, void* uc) {
    (void)sig;
    (void)info;
    (void)uc;
    char here;
    usr2_on_altstack = &here >= altstack && &here < altstack + kAltStackBytes;
    sigset_t now;
    pthread_sigmask(SIG_BLOCK, NULL, &now);
    usr2_sigint_blocked = sigismember(&now, SIGINT);
    usr2_calls++;
}

static void on_rt(int sig, siginfo_t* info, void* uc) {
    (void)uc;
    if (sig == SIGRTMIN + 3) {
        rt3_value = info->si_value.sival_int;
        rt3_count++;
    } else if (rt2_count < kMaxValues) {
        rt2_values[rt2_count++] = info->si_value.sival_int;
    }
}

struct Handler {
    int sig;
    void (*action)(int, siginfo_t*, void*);
    void (*handler)(int);
    int flags;
    int mask_sigint;
};

static void install(const struct Handler* h) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    if (h->action)
        sa.sa_sigaction = h->action;
    else
        sa.sa_handler = h->handler;
    sa.sa_flags = h->flags;
    sigemptyset(&sa.sa_mask);
    if (h->mask_sigint) sigaddset(&sa.sa_mask, SIGINT);
    if (sigaction(h->sig, &sa, NULL) != 0) wl_die("sigaction");
}

static void expect_installed(const struct Handler* h) {
    struct sigaction sa;
    sigaction(h->sig, NULL, &sa);
    void* expected = h->action ? (void*)h->action : (void*)h->handler;
    void* got = (h->flags & SA_SIGINFO) ? (void*)sa.sa_sigaction : (void*)sa.sa_handler;
    WL_EXPECT(got == expected, "signal %d: handler %p, expected %p", h->sig, got, expected);
    int kept = sa.sa_flags & (SA_SIGINFO | SA_RESTART | SA_ONSTACK | SA_NODEFER);
    WL_EXPECT(kept == h->flags, "signal %d: flags %#x, expected %#x", h->sig, kept, h->flags);
    WL_EXPECT(sigismember(&sa.sa_mask, SIGINT) == h->mask_sigint, "signal %d: sa_mask changed",
              h->sig);
}

int main(int argc, char** argv) {
    wl_init(argc, argv);
    const struct Handler handlers[] = {
        {SIGALRM, NULL, on_alarm, SA_RESTART, 0},
        {SIGHUP, on_hup, NULL, SA_SIGINFO, 0},
        {SIGUSR2, on_usr2, NULL, SA_SIGINFO | SA_ONSTACK | SA_RESTART, 1},
        {SIGRTMIN + 2, on_rt, NULL, SA_SIGINFO, 0},
        {SIGRTMIN + 3, on_rt, NULL, SA_SIGINFO | SA_NODEFER, 0},
    };
    const size_t handler_count = sizeof handlers / sizeof handlers[0];
    for (size_t i = 0; i < handler_count; i++) install(&handlers[i]);
    signal(SIGPIPE, SIG_IGN);

    stack_t ss = {.ss_sp = altstack, .ss_size = kAltStackBytes, .ss_flags = 0};
    if (sigaltstack(&ss, NULL) != 0) wl_die("sigaltstack");

    sigset_t blocked;
    sigemptyset(&blocked);
    sigaddset(&blocked, SIGHUP);
    sigaddset(&blocked, SIGWINCH);
    sigaddset(&blocked, SIGRTMIN + 2);
    sigaddset(&blocked, SIGRTMIN + 3);
    if (sigprocmask(SIG_SETMASK, &blocked, NULL) != 0) wl_die("sigprocmask");
    kill(wl.pid, SIGHUP);
    sigqueue(wl.pid, SIGRTMIN + 3, (union sigval){.sival_int = 7});
    pthread_sigqueue(pthread_self(), SIGRTMIN + 2, (union sigval){.sival_int = 42});
    pthread_sigqueue(pthread_self(), SIGRTMIN + 2, (union sigval){.sival_int = 43});

    struct itimerval timer = {{0, kTimerUs}, {0, kTimerUs}};
    if (setitimer(ITIMER_REAL, &timer, NULL) != 0) wl_die("setitimer");

    wl_ready();
    uint64_t spins = 0;
    while (!wl_check_due()) spins++;

    sigset_t mask;
    sigprocmask(SIG_BLOCK, NULL, &mask);
    for (int sig = 1; sig < 65; sig++)
        WL_EXPECT(sigismember(&mask, sig) == sigismember(&blocked, sig),
                  "signal %d is %sblocked now", sig, sigismember(&mask, sig) ? "" : "not ");
    sigset_t pending;
    sigpending(&pending);
    WL_EXPECT(sigismember(&pending, SIGHUP), "blocked SIGHUP is no longer pending");
    WL_EXPECT(sigismember(&pending, SIGRTMIN + 2), "queued SIGRTMIN+2 is no longer pending");
    WL_EXPECT(sigismember(&pending, SIGRTMIN + 3), "queued SIGRTMIN+3 is no longer pending");
    WL_EXPECT(!sigismember(&pending, SIGWINCH), "SIGWINCH pending from nowhere");
    WL_EXPECT(hups == 0 && rt2_count == 0 && rt3_count == 0, "a blocked signal was delivered");
    for (size_t i = 0; i < handler_count; i++) expect_installed(&handlers[i]);
    struct sigaction pipe_action;
    sigaction(SIGPIPE, NULL, &pipe_action);
    WL_EXPECT(pipe_action.sa_handler == SIG_IGN, "SIGPIPE is no longer ignored");

    stack_t now;
    sigaltstack(NULL, &now);
    WL_EXPECT(now.ss_sp == altstack && now.ss_size == kAltStackBytes && now.ss_flags == 0,
              "sigaltstack %p+%zu flags %d, expected %p+%d", now.ss_sp, now.ss_size, now.ss_flags,
              (void*)altstack, kAltStackBytes);

    struct itimerval left;
    getitimer(ITIMER_REAL, &left);
    WL_EXPECT(left.it_interval.tv_sec == 0 && left.it_interval.tv_usec == kTimerUs,
              "ITIMER_REAL interval %ld.%06ld", (long)left.it_interval.tv_sec,
              (long)left.it_interval.tv_usec);
    sig_atomic_t alarms_before = alarms;
    wl_sleep_ms(100);
    WL_EXPECT(alarms >= alarms_before + 3, "SIGALRM stopped: %d in 100 ms",
              (int)(alarms - alarms_before));

    raise(SIGUSR2);
    WL_EXPECT(usr2_calls == 1, "SIGUSR2 handler not called");
    WL_EXPECT(usr2_on_altstack, "SIGUSR2 handler did not run on the alternate stack");
    WL_EXPECT(usr2_sigint_blocked, "SIGUSR2 handler ran without its sa_mask");

    sigset_t unblock;
    sigemptyset(&unblock);
    sigaddset(&unblock, SIGHUP);
    sigaddset(&unblock, SIGRTMIN + 2);
    sigaddset(&unblock, SIGRTMIN + 3);
    sigprocmask(SIG_UNBLOCK, &unblock, NULL);
    WL_EXPECT(hups == 1 && hup_code == SI_USER, "pending SIGHUP: %d calls, si_code %d", (int)hups,
              (int)hup_code);
    /* one signal's queue comes in order; the frames of different signals nest */
    WL_EXPECT(rt2_count == 2 && rt2_values[0] == 42 && rt2_values[1] == 43,
              "queued SIGRTMIN+2: %d delivered, values %d %d (expected 42 43)", (int)rt2_count,
              rt2_values[0], rt2_values[1]);
    WL_EXPECT(rt3_count == 1 && rt3_value == 7, "queued SIGRTMIN+3: %d delivered, value %d",
              (int)rt3_count, (int)rt3_value);
    WL_EXPECT(spins > 0, "main loop never ran");
    wl_finish();
}
