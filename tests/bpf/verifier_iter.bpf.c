// SPDX-License-Identifier: GPL-2.0
// An open-coded iterator loop as clang -O2 builds it: every element the
// bpf_test_* iterator gives out goes to a ringbuf record, with kfuncs that
// read and write memory called on the way. tests/verifier/iter_program_test.cpp
// verifies it and runs it on the interpreter and the JIT.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

struct bpf_iter_test_num {
    __u64 __opaque[4];
} __attribute__((aligned(8)));

struct test_item {
    __u64 value, square;
};

extern int bpf_iter_test_num_new(struct bpf_iter_test_num *it, __u32 start, __u32 end) __ksym;
extern const struct test_item *bpf_iter_test_num_next(struct bpf_iter_test_num *it) __ksym;
extern void bpf_iter_test_num_destroy(struct bpf_iter_test_num *it) __ksym;
extern int bpf_test_fill(__u32 seed, void *out, __u32 out__sz) __ksym;
extern __u64 bpf_test_sum(const void *buf, __u32 buf__sz) __ksym;

struct iter_ctx {
    __u32 start, end;
};

struct record {
    struct test_item item;
    __u64 checksum;
};

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 4096);
} records SEC(".maps");

__u64 squares = 0;
__u64 checksums = 0;

SEC("syscall")
int squares_to_ringbuf(struct iter_ctx *ctx)
{
    struct bpf_iter_test_num it;
    const struct test_item *v;
    __u8 scratch[16];
    __u32 n = 0;

    bpf_iter_test_num_new(&it, ctx->start, ctx->end);
    while ((v = bpf_iter_test_num_next(&it))) {
        struct record *rec = bpf_ringbuf_reserve(&records, sizeof(*rec), 0);
        if (!rec)
            break;
        __builtin_memcpy(&rec->item, v, sizeof(*v));
        bpf_test_fill(n, scratch, sizeof(scratch));
        rec->checksum = bpf_test_sum(scratch, sizeof(scratch));
        squares += v->square;
        checksums += rec->checksum;
        bpf_ringbuf_submit(rec, 0);
        n++;
    }
    bpf_iter_test_num_destroy(&it);
    return n;
}

char LICENSE[] SEC("license") = "GPL";
