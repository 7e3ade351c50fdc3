// SPDX-License-Identifier: GPL-2.0
// Benchmark programs: each wraps a kernel from kernels.h, or loops over a
// helper or a map lookup, so bench/ can time it next to native code.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "kernels.h"

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 256);
    __type(key, __u32);
    __type(value, __u64);
} bench_array SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 256);
    __type(key, __u32);
    __type(value, __u64);
} bench_hash SEC(".maps");

SEC("syscall")
int checksum(struct bench_ctx *ctx) { return kernel_checksum(ctx); }

SEC("syscall")
int sieve(struct bench_ctx *ctx) { return kernel_sieve(ctx); }

SEC("syscall")
int fnv(struct bench_ctx *ctx) { return (int)kernel_fnv(ctx); }

SEC("syscall")
int helper_calls(void *ctx)
{
    __u32 acc = 0;
    for (int i = 0; i < BENCH_CALLS; i++) acc += bpf_get_prandom_u32();
    return acc;
}

SEC("syscall")
int array_lookups(void *ctx)
{
    __u64 acc = 0;
    for (__u32 i = 0; i < BENCH_CALLS; i++) {
        __u32 key = i & 255;
        __u64 *value = bpf_map_lookup_elem(&bench_array, &key);
        if (value) acc += *value;
    }
    return acc;
}

SEC("syscall")
int hash_lookups(void *ctx)
{
    __u64 acc = 0;
    for (__u32 i = 0; i < BENCH_CALLS; i++) {
        __u32 key = i & 255;
        __u64 *value = bpf_map_lookup_elem(&bench_hash, &key);
        if (value) acc += *value;
    }
    return acc;
}

char LICENSE[] SEC("license") = "GPL";
