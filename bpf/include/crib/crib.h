/* CRIB: the types the CRIB kfuncs hand to `crib` programs, the kfuncs
 * themselves, and the records the dump programs send through their ringbuf.
 * BPF programs include it (after crib/bpf.h); crib's C++ side includes it
 * for the same layouts, so the two cannot disagree.
 *
 * Every record starts with `kind` (enum crib_record_kind) so one ringbuf
 * carries them all; the kfunc that yields a struct fills its kind, so a
 * program forwards what it gets with one bpf_ringbuf_output. */
#ifndef CRIB_CRIB_H
#define CRIB_CRIB_H

#include <linux/types.h>

#define CRIB_PATH_MAX 4096
#define CRIB_XSTATE_MAX 16384
#define CRIB_CHUNK_MAX 4096
#define CRIB_SIGNALS 64
#define CRIB_RLIMITS 16
#define CRIB_GROUPS_MAX 64
#define CRIB_AUXV_MAX 128 /* __u64 words: (type, value) pairs */

enum crib_record_kind {
    CRIB_REC_TASK = 1,
    CRIB_REC_THREAD = 2,
    CRIB_REC_SIGNAL = 3, /* a queued signal; tid 0: process-wide */
    CRIB_REC_VMA = 4,
    CRIB_REC_FILE = 5,
    CRIB_REC_CHUNK = 6, /* bytes in flight of a pipe, in order */
};

/* The read-only context of the dump programs (BPF_PROG_RUN ctx_in). */
struct crib_dump_ctx {
    __u32 pid;
    __u32 flags;
};

struct crib_sigaction {
    __u64 handler, flags, restorer, mask;
};

struct crib_rlimit {
    __u64 cur, max;
};

struct crib_itimer {
    __u64 interval_us, value_us;
};

struct crib_task_info {
    __u32 kind;
    __s32 pid, ppid, pgid, sid;
    __u32 umask, personality;
    __u32 uids[4], gids[4];
    __u32 ngroups;
    __u32 groups[CRIB_GROUPS_MAX];
    __u64 cap_inheritable, cap_permitted, cap_effective, cap_bounding, cap_ambient;
    struct crib_rlimit rlimits[CRIB_RLIMITS];
    struct crib_sigaction sigactions[CRIB_SIGNALS];
    struct crib_itimer itimers[3];
    __u64 start_code, end_code, start_data, end_data, start_brk, brk, start_stack;
    __u64 arg_start, arg_end, env_start, env_end;
    __u32 auxv_words;
    __u64 auxv[CRIB_AUXV_MAX];
    char comm[16];
    char exe[CRIB_PATH_MAX];
    char cwd[CRIB_PATH_MAX];
    char root[CRIB_PATH_MAX];
};

struct crib_thread {
    __u32 kind;
    __s32 tid;
    __u64 regs[27]; /* struct user_regs_struct */
    __u64 blocked;
    __u64 altstack_sp, altstack_size;
    __u32 altstack_flags;
    __u32 rseq_length, rseq_flags, rseq_signature;
    __u64 rseq_address;
    __u64 clear_child_tid;
    __u32 xstate_size;
    __u8 xstate[CRIB_XSTATE_MAX];
};

struct crib_signal {
    __u32 kind;
    __s32 tid; /* 0: pending for the whole process */
    __u8 siginfo[128];
};

struct crib_vma {
    __u32 kind;
    __u32 prot, flags, vma_kind;
    __u64 start, end, pgoff, dev, ino;
    char path[CRIB_PATH_MAX];
};

struct crib_file {
    __u32 kind;
    __s32 fd;
    __u32 file_kind, flags, mode, eventfd_flags;
    __u64 pos, dev, ino, eventfd_count;
    __u64 data_size; /* pipe bytes in flight, sent as CRIB_REC_CHUNK records */
    char path[CRIB_PATH_MAX];
};

struct crib_chunk {
    __u32 kind;
    __s32 fd;
    __u64 offset;
    __u32 size;
    __u8 data[CRIB_CHUNK_MAX];
};

/* Open-coded iterators (new/next/destroy), as the kernel's bpf_iter_*:
 * the object lives on the program's stack. */
struct bpf_iter_crib_thread {
    __u64 __opaque[2];
} __attribute__((aligned(8)));
struct bpf_iter_crib_signal {
    __u64 __opaque[2];
} __attribute__((aligned(8)));
struct bpf_iter_crib_vma {
    __u64 __opaque[2];
} __attribute__((aligned(8)));
struct bpf_iter_crib_file {
    __u64 __opaque[2];
} __attribute__((aligned(8)));
struct bpf_iter_crib_chunk {
    __u64 __opaque[2];
} __attribute__((aligned(8)));

#ifdef __bpf__
#ifndef __ksym
#define __ksym __attribute__((section(".ksyms")))
#endif

/* 0, or -ESRCH when crib holds no state of `pid` (not being dumped). */
extern int bpf_crib_task_info(__u32 pid, struct crib_task_info *out, __u32 out__sz) __ksym;

extern int bpf_iter_crib_thread_new(struct bpf_iter_crib_thread *it, __u32 pid) __ksym;
extern const struct crib_thread *bpf_iter_crib_thread_next(struct bpf_iter_crib_thread *it) __ksym;
extern void bpf_iter_crib_thread_destroy(struct bpf_iter_crib_thread *it) __ksym;

/* Every queued signal: each thread's, then the process's (tid 0). */
extern int bpf_iter_crib_signal_new(struct bpf_iter_crib_signal *it, __u32 pid) __ksym;
extern const struct crib_signal *bpf_iter_crib_signal_next(struct bpf_iter_crib_signal *it) __ksym;
extern void bpf_iter_crib_signal_destroy(struct bpf_iter_crib_signal *it) __ksym;

extern int bpf_iter_crib_vma_new(struct bpf_iter_crib_vma *it, __u32 pid) __ksym;
extern const struct crib_vma *bpf_iter_crib_vma_next(struct bpf_iter_crib_vma *it) __ksym;
extern void bpf_iter_crib_vma_destroy(struct bpf_iter_crib_vma *it) __ksym;

extern int bpf_iter_crib_file_new(struct bpf_iter_crib_file *it, __u32 pid) __ksym;
extern const struct crib_file *bpf_iter_crib_file_next(struct bpf_iter_crib_file *it) __ksym;
extern void bpf_iter_crib_file_destroy(struct bpf_iter_crib_file *it) __ksym;

/* The bytes in flight of every pipe, CRIB_CHUNK_MAX at a time. */
extern int bpf_iter_crib_chunk_new(struct bpf_iter_crib_chunk *it, __u32 pid) __ksym;
extern const struct crib_chunk *bpf_iter_crib_chunk_next(struct bpf_iter_crib_chunk *it) __ksym;
extern void bpf_iter_crib_chunk_destroy(struct bpf_iter_crib_chunk *it) __ksym;
#endif /* __bpf__ */

#endif /* CRIB_CRIB_H */
