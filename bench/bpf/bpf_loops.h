/* Loops over helpers, which only BPF programs can call: shared by the
 * syscall programs crib runs and the XDP programs the kernel runs. */
#ifndef CRIB_BENCH_BPF_LOOPS_H
#define CRIB_BENCH_BPF_LOOPS_H

#include "kernels.h"

static __always_inline __u32 loop_prandom(void)
{
    __u32 acc = 0;
    for (int i = 0; i < BENCH_CALLS; i++) acc += bpf_get_prandom_u32();
    return acc;
}

/* Sums the values of keys 0..255, BENCH_CALLS lookups in all. */
static __always_inline __u64 loop_lookups(void *map)
{
    __u64 acc = 0;
    for (__u32 i = 0; i < BENCH_CALLS; i++) {
        __u32 key = i & 255;
        __u64 *value = bpf_map_lookup_elem(map, &key);
        if (value) acc += *value;
    }
    return acc;
}

#endif
