/* crib's own BTF: clang compiles this file with -g -target bpf at build time
 * and the object's .BTF describes, as the BPF side sees them, the types crib
 * hands to `crib` programs (bpf/include/crib/crib.h). crib embeds the object
 * and sizes its kfunc prototypes from it (types_btf.cpp). */
#include "crib/crib.h"

/* Clang emits BTF only for types a definition refers to, so one struct
 * names them all. A type added to crib.h for programs gets a member here. */
struct crib_types {
    enum crib_record_kind kind;
    struct crib_dump_ctx dump_ctx;
    struct crib_task_info task_info;
    struct crib_thread thread;
    struct crib_signal signal;
    struct crib_vma vma;
    struct crib_file file;
    struct crib_chunk chunk;
    struct bpf_iter_crib_thread iter_thread;
    struct bpf_iter_crib_signal iter_signal;
    struct bpf_iter_crib_vma iter_vma;
    struct bpf_iter_crib_file iter_file;
    struct bpf_iter_crib_chunk iter_chunk;
};

/* A function rather than a variable: the object then has no data section,
 * only this one-instruction subprogram whose argument carries the types. */
void crib_types(struct crib_types* types) {}
