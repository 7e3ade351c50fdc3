/* Maps and global data for the object loader tests. */
#include <crib/bpf.h>

struct value {
    __u64 packets;
    __u64 bytes;
};

struct {
    __uint(type, BPF_MAP_TYPE_HASH);
    __type(key, __u32);
    __type(value, struct value);
    __uint(max_entries, 128);
    __uint(map_flags, BPF_F_NO_PREALLOC);
} counts SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(key_size, 4);
    __uint(value_size, 8);
    __uint(max_entries, 4);
} slots SEC(".maps");

struct {
    __uint(type, BPF_MAP_TYPE_RINGBUF);
    __uint(max_entries, 4096);
} events SEC(".maps");

int data_word = 0x11223344;
long data_pair[2] = {5, 6};
const volatile __u32 ro_limit = 42;
__u64 bss_total;

SEC("xdp")
int count_packets(struct xdp_md *ctx)
{
    __u32 key = ctx->ingress_ifindex;
    struct value *v = bpf_map_lookup_elem(&counts, &key);
    if (!v) {
        struct value init = {1, 0};
        bpf_map_update_elem(&counts, &key, &init, BPF_ANY);
        return XDP_PASS;
    }
    __sync_fetch_and_add(&v->packets, 1);
    __sync_fetch_and_add(&bss_total, data_pair[1]);
    if (v->packets > ro_limit)
        return XDP_DROP;
    return XDP_PASS;
}

SEC("syscall")
int emit(void *ctx)
{
    __u32 key = 0;
    __u64 *slot = bpf_map_lookup_elem(&slots, &key);
    __u64 *event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
    if (!event)
        return 1;
    *event = slot ? *slot + data_word : data_word;
    bpf_ringbuf_submit(event, 0);
    return 0;
}

char LICENSE[] SEC("license") = "GPL";
