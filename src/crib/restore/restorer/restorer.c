/* The restorer: runs inside the staging hole after crib's child has staged
 * the saved address space, replaces everything else with it and rebuilds
 * the per-thread state only the process itself can set. Freestanding: no
 * libc, no relocations, raw syscalls; it may touch nothing outside the hole
 * once the old mappings are gone. Every thread ends on int3 for the tracer
 * (crib's parent) to load the saved registers; a failure executes ud2 with
 * the step in rdi and -errno in rsi. */
#include "abi.h"

#define NR_MMAP 9
#define NR_MPROTECT 10
#define NR_MUNMAP 11
#define NR_RT_SIGACTION 13
#define NR_RT_SIGPROCMASK 14
#define NR_MREMAP 25
#define NR_CLOSE 3
#define NR_SETITIMER 38
#define NR_GETPID 39
#define NR_SETRESUID 117
#define NR_SETRESGID 119
#define NR_SETGROUPS 116
#define NR_CAPSET 126
#define NR_SETFSUID 122
#define NR_SETFSGID 123
#define NR_SIGALTSTACK 131
#define NR_PRCTL 157
#define NR_SET_TID_ADDRESS 218
#define NR_RT_TGSIGQUEUEINFO 297
#define NR_RT_SIGQUEUEINFO 129
#define NR_RSEQ 334
#define NR_CLONE3 435

#define MREMAP_MAYMOVE 1
#define MREMAP_FIXED 2
#define PR_SET_MM 35
#define PR_SET_MM_MAP 14
#define PR_SET_KEEPCAPS 8
#define PR_CAPBSET_DROP 24
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define EINVAL 22
#define SIG_SETMASK 2
#define SIGKILL 9
#define SIGSTOP 19

#define CLONE_VM 0x100
#define CLONE_FS 0x200
#define CLONE_FILES 0x400
#define CLONE_SIGHAND 0x800
#define CLONE_THREAD 0x10000
#define CLONE_SYSVSEM 0x40000

typedef uint64_t u64;

/* The compiler may call these for struct copies and zeroing. */
void* memset(void* dest, int c, unsigned long n) {
    unsigned char* d = dest;
    while (n--) *d++ = (unsigned char)c;
    return dest;
}
void* memcpy(void* dest, const void* src, unsigned long n) {
    unsigned char* d = dest;
    const unsigned char* s = src;
    while (n--) *d++ = *s++;
    return dest;
}

static inline long sys6(long nr, long a, long b, long c, long d, long e, long f) {
    long ret;
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    register long r9 __asm__("r9") = f;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return ret;
}

#define SYS(nr, a, b, c, d, e, f) \
    sys6((nr), (long)(a), (long)(b), (long)(c), (long)(d), (long)(e), (long)(f))

__attribute__((noreturn)) static void fail(long step, long err) {
    for (;;) __asm__ volatile("ud2" ::"D"(step), "S"(err));
}

static inline void check(long ret, long step) {
    if (ret < 0 && ret > -4096) fail(step, ret);
}

struct kernel_sigaction {
    u64 handler, flags, restorer, mask;
};

struct clone_args {
    u64 flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid,
        set_tid_size, cgroup;
};

struct stack_t_ {
    u64 sp;
    int32_t flags, pad;
    u64 size;
};

struct cap_header {
    uint32_t version;
    int32_t pid;
};
struct cap_data {
    uint32_t effective, permitted, inheritable;
};

/* Capabilities are per thread: every thread runs this. The bounding set
 * shrinks while the thread still has CAP_SETPCAP; keepcaps carries the
 * permitted set over the uid change; ambient ones need it back in place. */
static void set_creds(const struct crib_rst_creds* c) {
    if (!c->set) return;
    check(SYS(NR_PRCTL, PR_SET_KEEPCAPS, 1, 0, 0, 0, 0), CRIB_RST_STEP_CREDS);
    for (int cap = 0; cap < 64; cap++) {
        if (c->cap_bounding & (1ULL << cap)) continue;
        long ret = SYS(NR_PRCTL, PR_CAPBSET_DROP, cap, 0, 0, 0, 0);
        if (ret != -EINVAL) check(ret, CRIB_RST_STEP_CREDS); /* EINVAL: past the last cap */
    }
    check(SYS(NR_SETGROUPS, c->ngroups, c->groups, 0, 0, 0, 0), CRIB_RST_STEP_CREDS);
    check(SYS(NR_SETRESGID, c->gids[0], c->gids[1], c->gids[2], 0, 0, 0), CRIB_RST_STEP_CREDS);
    check(SYS(NR_SETRESUID, c->uids[0], c->uids[1], c->uids[2], 0, 0, 0), CRIB_RST_STEP_CREDS);
    /* setfs[ug]id return the old id, never an error. */
    SYS(NR_SETFSGID, c->gids[3], 0, 0, 0, 0, 0);
    SYS(NR_SETFSUID, c->uids[3], 0, 0, 0, 0, 0);
    struct cap_header header = {0x20080522 /* _LINUX_CAPABILITY_VERSION_3 */, 0};
    struct cap_data data[2] = {
        {(uint32_t)c->cap_effective, (uint32_t)c->cap_permitted, (uint32_t)c->cap_inheritable},
        {(uint32_t)(c->cap_effective >> 32), (uint32_t)(c->cap_permitted >> 32),
         (uint32_t)(c->cap_inheritable >> 32)}};
    check(SYS(NR_CAPSET, &header, data, 0, 0, 0, 0), CRIB_RST_STEP_CREDS);
    check(SYS(NR_PRCTL, PR_SET_KEEPCAPS, 0, 0, 0, 0, 0), CRIB_RST_STEP_CREDS);
    for (int cap = 0; cap < 64; cap++)
        if (c->cap_ambient & (1ULL << cap))
            check(SYS(NR_PRCTL, PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0, 0),
                  CRIB_RST_STEP_CREDS);
}

/* Per-thread state, then the stop where the tracer takes over. */
__attribute__((noreturn)) static void finish_thread(const struct crib_rst_args* args,
                                                    const struct crib_rst_thread* t) {
    /* SS_ONSTACK only says the thread was running on it at the dump: the
     * kernel refuses it as a flag to set. */
    struct stack_t_ ss = {t->altstack_sp, (int32_t)(t->altstack_flags & ~1u), 0, t->altstack_size};
    if (!(t->altstack_flags & 2 /* SS_DISABLE */))
        check(SYS(NR_SIGALTSTACK, &ss, 0, 0, 0, 0, 0), CRIB_RST_STEP_ALTSTACK);
    if (t->rseq_address)
        check(SYS(NR_RSEQ, t->rseq_address, t->rseq_length, t->rseq_flags, t->rseq_signature, 0, 0),
              CRIB_RST_STEP_RSEQ);
    SYS(NR_SET_TID_ADDRESS, t->clear_child_tid, 0, 0, 0, 0, 0);
    set_creds(&args->creds);
    for (;;) __asm__ volatile("int3" ::"D"(t->tid));
}

/* New threads start here on their own stack: [rsp] = args, [rsp+8] = thread. */
__attribute__((noreturn, used)) void crib_restorer_thread_start(const struct crib_rst_args* args,
                                                                const struct crib_rst_thread* t) {
    finish_thread(args, t);
}

static long clone_thread(const struct crib_rst_args* args, const struct crib_rst_thread* t) {
    u64* top = (u64*)t->stack_top;
    top[-2] = (u64)args;
    top[-1] = (u64)t;
    int32_t tid = t->tid;
    struct clone_args ca = {0};
    ca.flags = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD | CLONE_SYSVSEM;
    ca.stack = t->stack_top - 4096 * 4;
    ca.stack_size = 4096 * 4 - 16;
    ca.set_tid = (u64)&tid;
    ca.set_tid_size = 1;
    /* The child comes back from the syscall on the new stack with nothing
     * of this frame: it pops its arguments and jumps on. */
    long ret;
    __asm__ volatile(
        "syscall\n\t"
        "test %%rax, %%rax\n\t"
        "jnz 1f\n\t"
        "pop %%rdi\n\t"
        "pop %%rsi\n\t"
        "and $-16, %%rsp\n\t"
        "call crib_restorer_thread_start\n\t"
        "1:\n\t"
        : "=a"(ret)
        : "a"((long)NR_CLONE3), "D"(&ca), "S"(sizeof(ca))
        : "rcx", "r11", "rdx", "memory");
    return ret;
}

__attribute__((noreturn, used)) void crib_restorer_main(struct crib_rst_args* args) {
    u64 all = ~0ULL;
    SYS(NR_RT_SIGPROCMASK, SIG_SETMASK, &all, 0, 8, 0, 0);
    if (args->magic != CRIB_RST_MAGIC) fail(CRIB_RST_STEP_BAD_ARGS, 0);
    if (args->close_fd >= 0) SYS(NR_CLOSE, args->close_fd, 0, 0, 0, 0, 0);

    const struct crib_rst_range* unmap = (const struct crib_rst_range*)args->unmap;
    for (uint32_t i = 0; i < args->nr_unmap; i++)
        check(SYS(NR_MUNMAP, unmap[i].start, unmap[i].end - unmap[i].start, 0, 0, 0, 0),
              CRIB_RST_STEP_UNMAP);

    const struct crib_rst_special* sp = (const struct crib_rst_special*)args->specials;
    for (uint32_t i = 0; i < args->nr_specials; i++)
        check(SYS(NR_MREMAP, sp[i].current, sp[i].size, sp[i].size, MREMAP_MAYMOVE | MREMAP_FIXED,
                  sp[i].parking, 0),
              CRIB_RST_STEP_PARK_SPECIAL);
    for (uint32_t i = 0; i < args->nr_specials; i++) {
        if (sp[i].final)
            check(SYS(NR_MREMAP, sp[i].parking, sp[i].size, sp[i].size,
                      MREMAP_MAYMOVE | MREMAP_FIXED, sp[i].final, 0),
                  CRIB_RST_STEP_PLACE_SPECIAL);
        else
            check(SYS(NR_MUNMAP, sp[i].parking, sp[i].size, 0, 0, 0, 0),
                  CRIB_RST_STEP_PLACE_SPECIAL);
    }

    const struct crib_rst_vma* vmas = (const struct crib_rst_vma*)args->vmas;
    for (uint32_t i = 0; i < args->nr_vmas; i++) {
        check(SYS(NR_MREMAP, vmas[i].staged, vmas[i].size, vmas[i].size,
                  MREMAP_MAYMOVE | MREMAP_FIXED, vmas[i].final, 0),
              CRIB_RST_STEP_MOVE_VMA);
        check(SYS(NR_MPROTECT, vmas[i].final, vmas[i].size, vmas[i].prot, 0, 0, 0),
              CRIB_RST_STEP_PROTECT_VMA);
    }

    if (args->set_mm)
        check(SYS(NR_PRCTL, PR_SET_MM, PR_SET_MM_MAP, &args->mm, sizeof(args->mm), 0, 0),
              CRIB_RST_STEP_MM_MAP);
    if (args->mm.exe_fd >= 0) SYS(NR_CLOSE, args->mm.exe_fd, 0, 0, 0, 0, 0);

    for (int sig = 1; sig <= 64; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        const struct crib_rst_sigaction* sa = &args->sigactions[sig - 1];
        struct kernel_sigaction ka = {sa->handler, sa->flags, sa->restorer, sa->mask};
        check(SYS(NR_RT_SIGACTION, sig, &ka, 0, 8, 0, 0), CRIB_RST_STEP_SIGACTION);
    }

    for (int which = 0; which < 3; which++)
        check(SYS(NR_SETITIMER, which, args->itimers[which], 0, 0, 0, 0), CRIB_RST_STEP_ITIMER);

    const struct crib_rst_thread* threads = (const struct crib_rst_thread*)args->threads;
    for (uint32_t i = 1; i < args->nr_threads; i++)
        check(clone_thread(args, &threads[i]), CRIB_RST_STEP_CLONE_THREAD);

    /* Only the thread-group leader may queue kernel-coded siginfo (si_code
     * >= 0) for the group and for each thread, so it queues them all; they
     * stay pending behind the fully blocked masks until the tracer sets the
     * saved ones. */
    long pid = SYS(NR_GETPID, 0, 0, 0, 0, 0, 0);
    const struct crib_rst_signal* sigs = (const struct crib_rst_signal*)args->signals;
    for (uint32_t i = 0; i < args->nr_signals; i++) {
        long ret =
            sigs[i].tid
                ? SYS(NR_RT_TGSIGQUEUEINFO, pid, sigs[i].tid, sigs[i].signo, sigs[i].siginfo, 0, 0)
                : SYS(NR_RT_SIGQUEUEINFO, pid, sigs[i].signo, sigs[i].siginfo, 0, 0, 0);
        check(ret, CRIB_RST_STEP_QUEUE_SIGNAL);
    }

    finish_thread(args, &threads[0]);
}
