/* A .maps entry whose `type` is a plain int instead of __uint(): the
 * loader must name the map, the section and the offset. */
#include <crib/bpf.h>

struct {
    __uint(type, BPF_MAP_TYPE_ARRAY);
    __uint(max_entries, 1);
    __type(key, __u32);
    __type(value, __u32);
} good SEC(".maps");

struct {
    int type;
    __uint(max_entries, 1);
} bad SEC(".maps");

SEC("syscall")
int use_maps(void *ctx)
{
    __u32 key = 0;
    return bpf_map_lookup_elem(&good, &key) != 0 && bpf_map_lookup_elem(&bad, &key) != 0;
}

char LICENSE[] SEC("license") = "GPL";
