// SPDX-License-Identifier: GPL-2.0
// Benchmark programs: each wraps a kernel from kernels.h, or loops over a
// helper or a map lookup, so bench/ can time it next to native code.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "bpf_loops.h"

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
int helper_calls(void *ctx) { return loop_prandom(); }

SEC("syscall")
int array_lookups(void *ctx) { return loop_lookups(&bench_array); }

SEC("syscall")
int hash_lookups(void *ctx) { return loop_lookups(&bench_hash); }

char LICENSE[] SEC("license") = "GPL";
