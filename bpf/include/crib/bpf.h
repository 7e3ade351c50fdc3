/* What BPF authors include for crib programs: libbpf's helper macros
 * (SEC, __uint, __type, __ksym, helper declarations) plus crib's section
 * names. Types crib hands to programs and kfunc declarations are added
 * by the layers that define them. */
#ifndef CRIB_BPF_H
#define CRIB_BPF_H

#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

/* A program run through BPF_PROG_RUN by crib's dump and restore. */
#define CRIB_SEC SEC("crib")

#endif /* CRIB_BPF_H */
