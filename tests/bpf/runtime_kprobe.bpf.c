// SPDX-License-Identifier: GPL-2.0
// A program type crib knows by name but cannot run in user space.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

SEC("kprobe/do_sys_open")
int probe(void *ctx) { return 0; }

char LICENSE[] SEC("license") = "GPL";
