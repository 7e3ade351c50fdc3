// SPDX-License-Identifier: GPL-2.0
/* The CRIB dump programs. `crib dump` freezes a process, collects its state
 * behind the CRIB kfuncs, and runs these through BPF_PROG_RUN with a
 * struct crib_dump_ctx; they send what the kfuncs give through `records`
 * and crib turns the records into the image. Each program returns the
 * number of records it sent, or a negative errno. */
#include <crib/bpf.h>
#include <crib/crib.h>

#define ENOSPC 28

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 64 << 20);
} records SEC(".maps");

CRIB_SEC
int dump_task(struct crib_dump_ctx *ctx)
{
    struct crib_task_info *task;
    int err;

    task = bpf_ringbuf_reserve(&records, sizeof(*task), 0);
    if (!task)
        return -ENOSPC;
    err = bpf_crib_task_info(ctx->pid, task, sizeof(*task));
    if (err) {
        bpf_ringbuf_discard(task, 0);
        return err;
    }
    bpf_ringbuf_submit(task, 0);
    return 1;
}

/* One program per iterator: the loop is the same, the kfuncs differ. */
#define CRIB_FORWARD(prog, name)                                                   \
    CRIB_SEC                                                                       \
    int prog(struct crib_dump_ctx *ctx)                                            \
    {                                                                              \
        struct bpf_iter_crib_##name it;                                            \
        const struct crib_##name *item;                                            \
        int sent = 0, err;                                                         \
                                                                                   \
        err = bpf_iter_crib_##name##_new(&it, ctx->pid);                           \
        while (!err && (item = bpf_iter_crib_##name##_next(&it))) {                \
            if (bpf_ringbuf_output(&records, (void *)item, sizeof(*item), 0)) {    \
                err = -ENOSPC;                                                     \
                break;                                                             \
            }                                                                      \
            sent++;                                                                \
        }                                                                          \
        bpf_iter_crib_##name##_destroy(&it);                                       \
        return err ? err : sent;                                                   \
    }

CRIB_FORWARD(dump_threads, thread)
CRIB_FORWARD(dump_signals, signal)
CRIB_FORWARD(dump_vmas, vma)
CRIB_FORWARD(dump_files, file)
CRIB_FORWARD(dump_pipe_data, chunk)

char LICENSE[] SEC("license") = "GPL";
