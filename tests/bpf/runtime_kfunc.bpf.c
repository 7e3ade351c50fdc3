// SPDX-License-Identifier: GPL-2.0
// Calls a kfunc no set provides.
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

extern int bpf_crib_no_such_kfunc(int value) __ksym;

SEC("syscall")
int calls_missing(void *ctx) { return bpf_crib_no_such_kfunc(1); }

char LICENSE[] SEC("license") = "GPL";
