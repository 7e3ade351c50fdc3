/* CO-RE relocations against a local type (relocated against the object's
 * own BTF or a caller's), against vmlinux's task_struct, plus a kfunc and
 * a ksym extern left for the runtime. */
#include <crib/bpf.h>
#include <bpf/bpf_core_read.h>

struct crib_point {
    int x;
    int y;
    long z;
} __attribute__((preserve_access_index));

struct task_struct {
    int pid;
    int tgid;
} __attribute__((preserve_access_index));

struct crib_missing___v2 {
    int nothing_here;
} __attribute__((preserve_access_index));

extern int crib_test_kfunc(int value) __ksym;
extern const int crib_test_ksym __ksym;

SEC("crib")
int read_point(struct crib_point *p)
{
    int exists = bpf_core_field_exists(p->y);
    return p->y + (int)p->z + exists + bpf_core_type_size(struct crib_point);
}

SEC("crib")
int read_task(struct task_struct *task)
{
    return task->tgid;
}

SEC("crib")
int maybe_missing(struct crib_missing___v2 *m)
{
    if (bpf_core_field_exists(m->nothing_here))
        return m->nothing_here;
    return -1;
}

SEC("crib")
int call_kfunc(void *ctx)
{
    return crib_test_kfunc(1) + (int)(long)&crib_test_ksym;
}

char LICENSE[] SEC("license") = "GPL";
