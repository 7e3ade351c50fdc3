/* The binary records the kernel collector's iterators write and
 * src/crib/kernel reads: shared by the BPF C and the C++ side, so the
 * layout is written once. Every record starts with a head giving its kind
 * and its total size (head, fixed part and the strings after it), so a
 * reader can step over kinds it does not know.
 *
 * Values are the kernel's own: raw vm_flags, s_dev in the kernel's
 * MKDEV encoding (major << 20 | minor), f_flags with O_CLOEXEC folded in
 * as fdinfo does. User space translates them once. */
#ifndef CRIB_COLLECT_RECORDS_H
#define CRIB_COLLECT_RECORDS_H

#include <linux/types.h>

#define CRIB_COLLECT_SIGNALS 64
#define CRIB_COLLECT_RLIMITS 16
#define CRIB_COLLECT_AUXV_WORDS 64 /* saved_auxv is 56 words on 6.x x86-64 */
#define CRIB_COLLECT_PATH_MAX 4096
/* One iterator step writes at most 32 KiB; the task record with three
 * paths and this many groups stays below it. */
#define CRIB_COLLECT_GROUPS_MAX 2048

enum crib_collect_kind {
    CRIB_REC_TASK = 1,
    CRIB_REC_THREAD = 2,
    CRIB_REC_VMA = 3,
    CRIB_REC_FILE = 4,
};

struct crib_rec_head {
    __u32 kind;
    __u32 size;
};

struct crib_rec_sigaction {
    __u64 handler, flags, restorer, mask;
};

struct crib_rec_rlimit {
    __u64 cur, max;
};

/* Lengths of the strings that follow a fixed part: bytes including the
 * terminating NUL, or a negative errno from bpf_d_path. */
typedef __s32 crib_rec_len;

/* Followed by exe, cwd and root (in that order, each exe_len... bytes when
 * positive) and then groups_count 32-bit gids. */
struct crib_rec_task {
    struct crib_rec_head head;
    __s32 pid, ppid, pgid, sid;
    char comm[16];
    __u32 umask, personality;
    __u32 uids[4], gids[4]; /* real, effective, saved, fs */
    __u64 cap_inheritable, cap_permitted, cap_effective, cap_bounding, cap_ambient;
    __u32 groups_total; /* what the kernel holds; more than groups_count: cut */
    __u32 groups_count;
    struct crib_rec_rlimit rlimits[CRIB_COLLECT_RLIMITS];
    struct crib_rec_sigaction sigactions[CRIB_COLLECT_SIGNALS];
    __u32 has_mm, has_fs;
    __u64 start_code, end_code, start_data, end_data, start_brk, brk, start_stack;
    __u64 arg_start, arg_end, env_start, env_end;
    __u32 auxv_words;
    __u32 real_timer_active;
    __u64 auxv[CRIB_COLLECT_AUXV_WORDS];
    /* Interval timers as the kernel keeps them, for user space to turn
     * into what getitimer(2) would say at now_ns (CLOCK_MONOTONIC):
     * ITIMER_REAL is an hrtimer, the CPU timers count against the thread
     * group's accumulated cputime. */
    __s64 now_ns;
    __s64 real_expires_ns, real_interval_ns;
    __u64 prof_expires_ns, prof_interval_ns, virt_expires_ns, virt_interval_ns;
    __u64 utime_ns, stime_ns;
    crib_rec_len exe_len, cwd_len, root_len;
    __u32 pad;
};

struct crib_rec_thread {
    struct crib_rec_head head;
    __s32 tid;
    __u32 altstack_flags; /* as sigaltstack(NULL, &old) reports them */
    __u64 altstack_sp, altstack_size;
    __u64 clear_child_tid;
};

/* Name sources for a VMA's path, mirroring /proc/PID/maps. */
enum crib_rec_vma_name {
    CRIB_VMA_NAME_NONE = 0,
    CRIB_VMA_NAME_FILE = 1,    /* path of vm_file */
    CRIB_VMA_NAME_SPECIAL = 2, /* a vm_special_mapping's name ([vdso]...) */
    CRIB_VMA_NAME_HEAP = 3,
    CRIB_VMA_NAME_STACK = 4,
    CRIB_VMA_NAME_SHARED_ANON = 5, /* MAP_SHARED|MAP_ANONYMOUS: its shmem file */
    CRIB_VMA_NAME_ANON = 6,        /* prctl(PR_SET_VMA_ANON_NAME): [anon:name] */
    CRIB_VMA_NAME_ANON_SHMEM = 7,  /* the same on shared memory: [anon_shmem:name] */
};

/* Followed by path_len bytes: the file's path, a special mapping's own
 * name ("[vdso]"), or the bare name given with PR_SET_VMA_ANON_NAME. */
struct crib_rec_vma {
    struct crib_rec_head head;
    __u64 start, end;
    __u64 vm_flags;
    __u64 pgoff; /* pages */
    __u64 s_dev, ino;
    __u32 name_kind;
    crib_rec_len path_len;
};

/* Followed by path_len bytes. */
struct crib_rec_file {
    struct crib_rec_head head;
    __s32 fd;
    __u32 f_flags;
    __s64 pos;
    __u64 s_dev, ino;
    __u32 mode;
    __u32 is_eventfd;
    __u64 eventfd_count;
    __u32 eventfd_flags;
    crib_rec_len path_len;
};

#endif /* CRIB_COLLECT_RECORDS_H */
