// SPDX-License-Identifier: GPL-2.0
// Packet parsing as clang -O2 builds it: Ethernet, then IPv4 with its
// variable header length, then the transport ports, each access proven
// against data_end first. tests/verifier/xdp_program_test.cpp verifies it
// and runs it on both engines.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 256);
    __type(key, __u32);
    __type(value, __u64);
} protocols SEC(".maps");

__u32 last_port = 0;

SEC("xdp")
int count_protocols(struct xdp_md *xdp)
{
    void *data = (void *)(long)xdp->data;
    void *end = (void *)(long)xdp->data_end;
    struct ethhdr *eth = data;
    struct iphdr *ip;
    __u16 *ports;
    __u32 key, hlen;
    __u64 *count;

    if ((void *)(eth + 1) > end)
        return XDP_DROP;
    if (eth->h_proto != bpf_htons(ETH_P_IP))
        return XDP_PASS;
    ip = (void *)(eth + 1);
    if ((void *)(ip + 1) > end)
        return XDP_DROP;
    hlen = ip->ihl * 4;
    if (hlen < sizeof(*ip))
        return XDP_DROP;
    ports = (void *)ip + hlen;
    if ((void *)(ports + 2) > end)
        return XDP_DROP;
    last_port = bpf_ntohs(ports[1]);
    key = ip->protocol;
    count = bpf_map_lookup_elem(&protocols, &key);
    if (count)
        __sync_fetch_and_add(count, 1);
    return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
