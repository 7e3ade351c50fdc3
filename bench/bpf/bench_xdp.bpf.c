// SPDX-License-Identifier: GPL-2.0
// The benchmark kernels again, as XDP programs for the Linux kernel's JIT:
// BPF_PROG_TEST_RUN takes `repeat` for XDP but not for syscall programs.
// The context is a struct bench_ctx held in a one-element array map (a map
// value the kernel's verifier can bound, unlike packet data of unknown
// length); the test-run packet itself is a dummy. The lookup cases use this
// object's own maps, filled like crib's (key k -> k * 3).
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "bpf_loops.h"

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, struct bench_ctx);
} xdp_buffer SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 256);
    __type(key, __u32);
    __type(value, __u64);
} xdp_array SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 256);
    __type(key, __u32);
    __type(value, __u64);
} xdp_hash SEC(".maps");

static __always_inline struct bench_ctx *buffer(void)
{
    __u32 key = 0;
    return bpf_map_lookup_elem(&xdp_buffer, &key);
}

SEC("xdp")
int checksum(struct xdp_md *xdp)
{
    struct bench_ctx *ctx = buffer();
    return ctx ? kernel_checksum(ctx) : XDP_ABORTED;
}

SEC("xdp")
int sieve(struct xdp_md *xdp)
{
    struct bench_ctx *ctx = buffer();
    return ctx ? kernel_sieve(ctx) : XDP_ABORTED;
}

SEC("xdp")
int fnv(struct xdp_md *xdp)
{
    struct bench_ctx *ctx = buffer();
    return ctx ? (int)kernel_fnv(ctx) : XDP_ABORTED;
}

SEC("xdp")
int helper_calls(struct xdp_md *xdp) { return loop_prandom(); }

SEC("xdp")
int array_lookups(struct xdp_md *xdp) { return loop_lookups(&xdp_array); }

SEC("xdp")
int hash_lookups(struct xdp_md *xdp) { return loop_lookups(&xdp_hash); }

char LICENSE[] SEC("license") = "GPL";
