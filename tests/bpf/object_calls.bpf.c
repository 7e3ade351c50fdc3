/* Subprograms, bpf_loop callbacks, atomics and several program sections. */
#include <crib/bpf.h>

__u64 total;
int seen;

static __attribute__((noinline)) int triple(int x)
{
    return x * 3 + seen;
}

static __attribute__((noinline)) int triple_plus_one(int x)
{
    return triple(x) + 1;
}

static long add_index(__u32 index, void *ctx)
{
    __sync_fetch_and_add(&total, index);
    return 0;
}

CRIB_SEC
int run_crib(void *ctx)
{
    bpf_loop(8, add_index, 0, 0);
    return triple_plus_one(2);
}

SEC("iter/task")
int walk_tasks(void *ctx)
{
    __sync_fetch_and_add(&seen, 1);
    return triple(seen);
}

SEC("syscall")
int plain(void *ctx)
{
    return 7;
}

char LICENSE[] SEC("license") = "GPL";
