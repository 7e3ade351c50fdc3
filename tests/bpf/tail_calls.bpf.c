// SPDX-License-Identifier: GPL-2.0
// bpf_tail_call through a prog_array that the runtime fills with program ids.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct {
    __uint(type, BPF_MAP_TYPE_PROG_ARRAY);
    __uint(max_entries, 4);
    __uint(key_size, sizeof(__u32));
    __uint(value_size, sizeof(__u32));
} jump_table SEC(".maps");

__u64 hops;

SEC("syscall")
int target(void *ctx)
{
    __sync_fetch_and_add(&hops, 1);
    return 42;
}

SEC("syscall")
int entry(void *ctx)
{
    bpf_tail_call(ctx, &jump_table, 0);
    return -1; /* reached only when slot 0 is empty */
}

SEC("syscall")
int again(void *ctx)
{
    __sync_fetch_and_add(&hops, 1);
    bpf_tail_call(ctx, &jump_table, 1);
    return 7;
}

char LICENSE[] SEC("license") = "GPL";
