/* The contract between crib's restore engine (C++) and the restorer blob
 * (freestanding C): the argument block the engine builds inside the staging
 * hole and the blob reads after the old address space is gone. Everything
 * the blob needs is in the block, addresses are absolute (the hole never
 * moves), and every array lives in the block too. */
#ifndef CRIB_RESTORE_RESTORER_ABI_H
#define CRIB_RESTORE_RESTORER_ABI_H

#include <stdint.h>

#define CRIB_RST_MAGIC 0x43524942525354ULL /* "CRIBRST" */

/* Offsets inside the blob the engine jumps or points to. */
#define CRIB_RST_ENTRY_OFFSET 0   /* restorer entry: rdi = args, rsp = stack */
#define CRIB_RST_GADGET_OFFSET 16 /* `syscall; int3`: the final munmap runs here */

/* Why the blob stopped early: it executes ud2 with rdi = step, rsi = -errno. */
enum crib_rst_step {
    CRIB_RST_STEP_BAD_ARGS = 1,
    CRIB_RST_STEP_UNMAP,
    CRIB_RST_STEP_PARK_SPECIAL,
    CRIB_RST_STEP_PLACE_SPECIAL,
    CRIB_RST_STEP_MOVE_VMA,
    CRIB_RST_STEP_PROTECT_VMA,
    CRIB_RST_STEP_MM_MAP,
    CRIB_RST_STEP_SIGACTION,
    CRIB_RST_STEP_ITIMER,
    CRIB_RST_STEP_CLONE_THREAD,
    CRIB_RST_STEP_QUEUE_SIGNAL,
    CRIB_RST_STEP_ALTSTACK,
    CRIB_RST_STEP_RSEQ,
    CRIB_RST_STEP_CREDS,
    CRIB_RST_STEP_COUNT
};

struct crib_rst_range {
    uint64_t start, end;
};

/* A staged mapping moved to its saved place and given its saved protection. */
struct crib_rst_vma {
    uint64_t staged, final, size;
    uint32_t prot, pad;
};

/* The kernel's vdso/vvar pages: parked inside the hole first, then placed at
 * the saved address (or unmapped when `final` is 0) so that destinations may
 * overlap where they sit now. */
struct crib_rst_special {
    uint64_t current, parking, final, size;
};

struct crib_rst_sigaction {
    uint64_t handler, flags, restorer, mask;
};

struct crib_rst_thread {
    int32_t tid, pad;
    uint64_t stack_top; /* inside the hole: the blob runs on it */
    uint64_t clear_child_tid;
    uint64_t altstack_sp, altstack_size;
    uint32_t altstack_flags, rseq_length;
    uint64_t rseq_address;
    uint32_t rseq_flags, rseq_signature;
};

struct crib_rst_signal {
    int32_t tid; /* 0: process-directed */
    int32_t signo;
    uint8_t siginfo[128];
};

struct crib_rst_creds {
    uint32_t set; /* 0: keep the restoring process's credentials */
    uint32_t ngroups;
    uint32_t uids[4], gids[4]; /* real, effective, saved, fs */
    uint64_t cap_inheritable, cap_permitted, cap_effective, cap_bounding, cap_ambient;
    uint64_t groups; /* address of ngroups uint32_t */
};

/* struct prctl_mm_map, field for field. */
struct crib_rst_mm {
    uint64_t start_code, end_code, start_data, end_data, start_brk, brk, start_stack;
    uint64_t arg_start, arg_end, env_start, env_end;
    uint64_t auxv;
    uint32_t auxv_size;
    int32_t exe_fd;
};

struct crib_rst_args {
    uint64_t magic;
    uint64_t hole_start, hole_end;
    int32_t close_fd; /* the engine's status pipe; -1 for none */
    uint32_t set_mm;  /* 0: leave the mm fields alone */
    struct crib_rst_mm mm;
    struct crib_rst_sigaction sigactions[64]; /* index = signal - 1 */
    uint64_t itimers[3][4];                   /* struct itimerval: interval, value */
    struct crib_rst_creds creds;
    uint32_t nr_unmap, nr_specials, nr_vmas, nr_threads, nr_signals, pad;
    uint64_t unmap;    /* struct crib_rst_range[nr_unmap] */
    uint64_t specials; /* struct crib_rst_special[nr_specials] */
    uint64_t vmas;     /* struct crib_rst_vma[nr_vmas] */
    uint64_t threads;  /* struct crib_rst_thread[nr_threads], leader first */
    uint64_t signals;  /* struct crib_rst_signal[nr_signals] */
};

#endif
