// SPDX-License-Identifier: GPL-2.0
// Programs that run both in crib and in the Linux kernel (as syscall
// programs through BPF_PROG_TEST_RUN); tests/runtime/kernel_parity_test.cpp
// compares return values, map contents and ringbuf records. Each keeps to
// what the kernel's verifier accepts.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct parity_ctx {
    __u64 seed;
    __u32 count;
    __u32 flags;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 64);
    __type(key, __u32);
    __type(value, __u64);
} table SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_LRU_HASH);
    /* Room for every key used: the kernel's LRU may evict early when near
     * full (per-CPU free lists), so parity holds only below capacity. */
    __uint(max_entries, 64);
    __type(key, __u32);
    __type(value, __u32);
} recent SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 8);
    __type(key, __u32);
    __type(value, __u64);
} slots SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
    __uint(max_entries, 2);
    __type(key, __u32);
    __type(value, __u64);
} per_cpu SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 4096);
} events SEC(".maps");

const volatile __u64 multiplier = 0x9e3779b97f4a7c15ULL;
__u64 runs = 7;
__u64 last_mix;
__u32 histogram[4];

static __noinline __u64 mix(__u64 x, __u64 y, __u64 z, __u64 w, __u64 v)
{
    x ^= y >> 7;
    x *= multiplier;
    x += z << 3;
    x ^= (__s64)w >> 11;
    return x - v / 3 + (v % 5);
}

static __noinline __u64 depth(__u64 n, __u64 acc)
{
    if (n == 0) return acc;
    return depth(n - 1, mix(acc, n, acc, n, 9));
}

SEC("syscall")
int alu_and_calls(struct parity_ctx *ctx)
{
    __u64 x = ctx->seed;
    __s32 s = (__s32)x;
    __u64 result = mix(x, x >> 3, ctx->count, -x, 12345);

    result ^= depth(5, x);
    result += (__u64)(__s64)s + (__u64)((__u32)s / 7) + (__u64)((__u32)s % 7);
    result += (__u32)x >> (ctx->count & 31);
    result += (__s64)x >> 13;
    result ^= __builtin_bswap64(x) + __builtin_bswap32((__u32)x) + __builtin_bswap16((__u16)x);
    last_mix = result;
    __sync_fetch_and_add(&runs, 1);
    return (int)(result ^ (result >> 32));
}

SEC("syscall")
int hash_ops(struct parity_ctx *ctx)
{
    __u32 n = ctx->count & 63;
    __u64 sum = 0;

    /* Keys are copies: passing &i would spill the counter to the stack,
     * where the kernel's verifier loses its bounds. */
    for (__u32 i = 0; i < 64; i++) {
        __u32 key = i;
        __u64 value = ctx->seed * (i + 1);
        if (i >= n) break;
        bpf_map_update_elem(&table, &key, &value, BPF_ANY);
    }
    for (__u32 i = 0; i < 64; i += 3) {
        __u32 key = i;
        if (i >= n) break;
        bpf_map_delete_elem(&table, &key);
    }
    for (__u32 i = 0; i < 64; i++) {
        __u32 key = i;
        __u64 *value = bpf_map_lookup_elem(&table, &key);
        if (value) {
            sum += *value;
            __sync_fetch_and_add(value, 1);
        }
    }
    __u64 again = 1;
    __u32 key = 1;
    if (bpf_map_update_elem(&table, &key, &again, BPF_NOEXIST) == 0) sum += 1000;
    key = 0;
    if (bpf_map_update_elem(&table, &key, &again, BPF_EXIST) != 0) sum += 2000;
    return (int)sum;
}

SEC("syscall")
int lru_and_arrays(struct parity_ctx *ctx)
{
    __u32 hits = 0;
    for (__u32 i = 0; i < 40; i++) {
        __u32 key = (i * 7) % 24, *value = bpf_map_lookup_elem(&recent, &key);
        if (value) {
            hits++;
            *value += 1;
        } else {
            __u32 one = 1;
            bpf_map_update_elem(&recent, &key, &one, BPF_ANY);
        }
        __u32 slot = i & 7;
        __u64 *cell = bpf_map_lookup_elem(&slots, &slot);
        if (cell) *cell += i * ctx->seed;
        histogram[i & 3] += i;
    }
    __u32 zero = 0;
    __u64 *mine = bpf_map_lookup_elem(&per_cpu, &zero);
    if (mine) *mine += ctx->count;
    return hits;
}

struct loop_state {
    __u64 acc;
    __u32 limit;
};

static long loop_step(__u32 index, void *data)
{
    struct loop_state *state = data;
    if (index >= state->limit) return 1;
    state->acc = state->acc * 31 + index * index;
    return 0;
}

SEC("syscall")
int loops(struct parity_ctx *ctx)
{
    struct loop_state state = {.acc = ctx->seed, .limit = ctx->count};
    long iterations = bpf_loop(100, loop_step, &state, 0);
    return (int)(state.acc + iterations * 1000);
}

struct event {
    __u64 seq;
    __u64 value;
};

SEC("syscall")
int ringbuf(struct parity_ctx *ctx)
{
    int sent = 0;
    for (__u32 i = 0; i < 8; i++) {
        struct event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
        if (!e) break;
        e->seq = i;
        e->value = ctx->seed + i;
        if (i % 3 == 2) {
            bpf_ringbuf_discard(e, 0);
        } else {
            bpf_ringbuf_submit(e, 0);
            sent++;
        }
    }
    struct event tail = {.seq = 100, .value = ctx->count};
    if (bpf_ringbuf_output(&events, &tail, sizeof(tail), 0) == 0) sent++;
    return sent;
}

char LICENSE[] SEC("license") = "GPL";
