// SPDX-License-Identifier: GPL-2.0
// The demo program `make demo` runs: counts the words of a text handed in as
// the context, keeps a count per word in a hash map, sends one ringbuf
// record per word and totals in a global. It uses what the runtime core
// offers: BTF-defined maps, .rodata/.bss globals, a bpf_loop callback, a
// subprogram, atomics and the ringbuf.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#define MAX_TEXT 256

struct demo_ctx {
    __u32 len;
    char text[MAX_TEXT];
};

struct word_event {
    __u32 hash;
    __u32 start;
    __u32 len;
    __u32 count;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __uint(max_entries, 1024);
    __type(key, __u32);
    __type(value, __u64);
} word_counts SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 4096 * 4);
} words SEC(".maps");

const volatile __u32 fnv_offset = 2166136261u;
__u64 total_words;
__u64 total_bytes;

struct scan {
    const struct demo_ctx *ctx;
    __u32 hash;
    __u32 start;
    __u32 len;
};

static __noinline __u64 bump(__u32 hash)
{
    __u64 one = 1, *count = bpf_map_lookup_elem(&word_counts, &hash);
    if (count) {
        __sync_fetch_and_add(count, 1);
        return *count;
    }
    bpf_map_update_elem(&word_counts, &hash, &one, BPF_NOEXIST);
    return 1;
}

static void end_word(struct scan *s)
{
    struct word_event *event;

    if (!s->len) return;
    __sync_fetch_and_add(&total_words, 1);
    event = bpf_ringbuf_reserve(&words, sizeof(*event), 0);
    if (event) {
        event->hash = s->hash;
        event->start = s->start;
        event->len = s->len;
        event->count = bump(s->hash);
        bpf_ringbuf_submit(event, 0);
    }
    s->len = 0;
}

static long step(__u32 index, void *data)
{
    struct scan *s = data;
    char c;

    if (index >= s->ctx->len || index >= MAX_TEXT) return 1;
    c = s->ctx->text[index];
    if (c == ' ' || c == '\n' || c == '\t' || c == ',' || c == '.') {
        end_word(s);
        return 0;
    }
    if (c >= 'A' && c <= 'Z') c += 'a' - 'A';
    if (!s->len) {
        s->start = index;
        s->hash = fnv_offset;
    }
    s->hash = (s->hash ^ (__u8)c) * 16777619u;
    s->len++;
    return 0;
}

SEC("syscall")
int count_words(struct demo_ctx *ctx)
{
    struct scan s = {.ctx = ctx};

    bpf_loop(MAX_TEXT, step, &s, 0);
    end_word(&s);
    __sync_fetch_and_add(&total_bytes, ctx->len);
    return total_words;
}

char LICENSE[] SEC("license") = "GPL";
