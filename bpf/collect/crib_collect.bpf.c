/* The kernel collector's iterators: run in the running kernel (libbpf,
 * CO-RE), attached with a task.pid filter so the kernel walks only the
 * target process, and writing the records of collect_records.h with
 * bpf_seq_write for user space to read in binary. */
#include <linux/types.h>
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>

#include "kernel_types.h"
#include "collect_records.h"

char LICENSE[] SEC("license") = "GPL";

#define VM_MAYSHARE 0x00000080UL
#define SS_ONSTACK 1
#define SS_DISABLE 2
#define SS_AUTODISARM (1U << 31)
#define PIDTYPE_TGID 1
#define PIDTYPE_PGID 2
#define PIDTYPE_SID 3

/* Too large for the 512-byte stack. User space runs one iterator of this
 * object at a time (IteratorObject::run holds a lock), and a run is one
 * reader, so nothing else writes here meanwhile. */
static struct {
    struct crib_rec_task task;
    char paths[3][CRIB_COLLECT_PATH_MAX];
    __u32 groups[CRIB_COLLECT_GROUPS_MAX];
} scratch;

/* Loads through a trusted pointer (an iterator's task, vma or file, or
 * bpf_get_current_task_btf) make the kernel's verifier look up
 * "<type>__safe_trusted" and its siblings by name in vmlinux's BTF, a scan
 * of every type each time. Through a read-only alias of the same object the
 * loads are checked as probe reads, without those lookups; only pointers
 * handed to helpers that want trusted ones (bpf_d_path, bpf_task_pt_regs)
 * are taken from the original. */
extern void *bpf_rdonly_cast(const void *obj, __u32 btf_id) __ksym;
#define UNTRUSTED(type, ptr) \
    ((type *)bpf_rdonly_cast((ptr), bpf_core_type_id_kernel(type)))

/* A pid number as the reader sees it (pid_nr_ns with the reader's pid
 * namespace): 0 when the pid is not visible there, like /proc shows it. */
static __s32 pid_nr_for_reader(struct pid *pid)
{
    struct task_struct *reader = UNTRUSTED(struct task_struct, bpf_get_current_task_btf());
    struct pid *own = reader->thread_pid;
    unsigned int level = own->level;
    if (!pid || level > 32 || pid->level < level) return 0;

    __u64 upid_size = bpf_core_type_size(struct upid);
    const char *numbers = (const char *)pid + bpf_core_field_offset(struct pid, numbers);
    const char *own_numbers = (const char *)own + bpf_core_field_offset(struct pid, numbers);
    struct upid *mine = (struct upid *)(own_numbers + level * upid_size);
    struct upid *theirs = (struct upid *)(numbers + level * upid_size);
    if (BPF_CORE_READ(theirs, ns) != BPF_CORE_READ(mine, ns)) return 0;
    return BPF_CORE_READ(theirs, nr);
}

static crib_rec_len path_into(struct path *path, char *buf)
{
    if (!path || !BPF_CORE_READ(path, dentry)) return -2; /* ENOENT */
    return bpf_d_path(path, buf, CRIB_COLLECT_PATH_MAX);
}

static void write_string(struct seq_file *seq, const char *buf, crib_rec_len len)
{
    if (len > 0 && len <= CRIB_COLLECT_PATH_MAX) bpf_seq_write(seq, buf, len);
}

static __u32 string_bytes(crib_rec_len len)
{
    return len > 0 ? (__u32)len : 0;
}

static void read_sigactions(struct crib_rec_task *r, struct sighand_struct *sighand)
{
    const char *base = (const char *)sighand +
                       bpf_core_field_offset(struct sighand_struct, action) +
                       bpf_core_field_offset(struct k_sigaction, sa);
    __u64 size = bpf_core_type_size(struct k_sigaction);
    __u32 handler = bpf_core_field_offset(struct sigaction, sa_handler);
    __u32 flags = bpf_core_field_offset(struct sigaction, sa_flags);
    __u32 restorer = bpf_core_field_offset(struct sigaction, sa_restorer);
    __u32 mask = bpf_core_field_offset(struct sigaction, sa_mask);
    for (int i = 0; i < CRIB_COLLECT_SIGNALS; i++) {
        const char *action = base + i * size;
        struct crib_rec_sigaction *out = &r->sigactions[i];
        bpf_probe_read_kernel(&out->handler, 8, action + handler);
        bpf_probe_read_kernel(&out->flags, 8, action + flags);
        bpf_probe_read_kernel(&out->restorer, 8, action + restorer);
        bpf_probe_read_kernel(&out->mask, 8, action + mask);
    }
}

static void read_rlimits(struct crib_rec_task *r, struct signal_struct *signal)
{
    const char *base = (const char *)signal + bpf_core_field_offset(struct signal_struct, rlim);
    __u64 size = bpf_core_type_size(struct rlimit);
    __u32 cur = bpf_core_field_offset(struct rlimit, rlim_cur);
    __u32 max = bpf_core_field_offset(struct rlimit, rlim_max);
    for (int i = 0; i < CRIB_COLLECT_RLIMITS; i++) {
        const char *limit = base + i * size;
        bpf_probe_read_kernel(&r->rlimits[i].cur, 8, limit + cur);
        bpf_probe_read_kernel(&r->rlimits[i].max, 8, limit + max);
    }
}

static void read_itimers(struct crib_rec_task *r, struct signal_struct *signal)
{
    struct hrtimer *real = &signal->real_timer;
    r->now_ns = bpf_ktime_get_ns();
    r->real_expires_ns = real->node.expires;
    r->real_interval_ns = signal->it_real_incr;
    /* hrtimer_active(): queued, or its callback running right now. */
    r->real_timer_active = real->state != 0 || real->base->running == real;
    r->prof_expires_ns = signal->it[0].expires;
    r->prof_interval_ns = signal->it[0].incr;
    r->virt_expires_ns = signal->it[1].expires;
    r->virt_interval_ns = signal->it[1].incr;
    r->utime_ns = signal->cputimer.cputime_atomic.utime.counter;
    r->stime_ns = signal->cputimer.cputime_atomic.stime.counter;
}

static void read_creds(struct crib_rec_task *r, const struct cred *cred)
{
    r->uids[0] = cred->uid.val;
    r->uids[1] = cred->euid.val;
    r->uids[2] = cred->suid.val;
    r->uids[3] = cred->fsuid.val;
    r->gids[0] = cred->gid.val;
    r->gids[1] = cred->egid.val;
    r->gids[2] = cred->sgid.val;
    r->gids[3] = cred->fsgid.val;
    /* kernel_cap_t was two u32 words before 6.3 and one u64 since: the
     * same eight bytes either way. */
    bpf_probe_read_kernel(&r->cap_inheritable, 8, &cred->cap_inheritable);
    bpf_probe_read_kernel(&r->cap_permitted, 8, &cred->cap_permitted);
    bpf_probe_read_kernel(&r->cap_effective, 8, &cred->cap_effective);
    bpf_probe_read_kernel(&r->cap_bounding, 8, &cred->cap_bset);
    bpf_probe_read_kernel(&r->cap_ambient, 8, &cred->cap_ambient);

    struct group_info *groups = cred->group_info;
    int total = groups ? groups->ngroups : 0;
    __u32 count = total > 0 ? (__u32)total : 0;
    r->groups_total = count;
    if (count > CRIB_COLLECT_GROUPS_MAX) count = CRIB_COLLECT_GROUPS_MAX;
    r->groups_count = count;
    __u32 bytes = count * sizeof(__u32);
    if (bytes && bytes <= sizeof scratch.groups)
        bpf_probe_read_kernel(scratch.groups, bytes, &groups->gid[0]);
}

static void read_mm(struct crib_rec_task *r, struct mm_struct *mm)
{
    r->has_mm = mm != 0;
    if (!mm) {
        r->start_code = r->end_code = r->start_data = r->end_data = 0;
        r->start_brk = r->brk = r->start_stack = 0;
        r->arg_start = r->arg_end = r->env_start = r->env_end = 0;
        r->auxv_words = 0;
        return;
    }
    r->start_code = mm->start_code;
    r->end_code = mm->end_code;
    r->start_data = mm->start_data;
    r->end_data = mm->end_data;
    r->start_brk = mm->start_brk;
    r->brk = mm->brk;
    r->start_stack = mm->start_stack;
    r->arg_start = mm->arg_start;
    r->arg_end = mm->arg_end;
    r->env_start = mm->env_start;
    r->env_end = mm->env_end;
    __u32 bytes = bpf_core_field_size(mm->saved_auxv);
    if (bytes > sizeof r->auxv) bytes = sizeof r->auxv;
    r->auxv_words = bytes / 8;
    bpf_probe_read_kernel(r->auxv, bytes, &mm->saved_auxv[0]);
}

static void emit_task(struct seq_file *seq, struct task_struct *trusted)
{
    struct task_struct *task = UNTRUSTED(struct task_struct, trusted);
    /* Too large for memset: every member is assigned below instead. */
    struct crib_rec_task *r = &scratch.task;
    r->pad = 0;
    struct signal_struct *signal = task->signal;
    r->pid = pid_nr_for_reader(signal->pids[PIDTYPE_TGID]);
    r->ppid = pid_nr_for_reader(task->real_parent->signal->pids[PIDTYPE_TGID]);
    r->pgid = pid_nr_for_reader(signal->pids[PIDTYPE_PGID]);
    r->sid = pid_nr_for_reader(signal->pids[PIDTYPE_SID]);
    bpf_probe_read_kernel_str(r->comm, sizeof r->comm, task->comm);
    r->personality = task->personality;
    read_creds(r, task->real_cred);
    read_rlimits(r, signal);
    read_sigactions(r, task->sighand);
    read_itimers(r, signal);

    struct mm_struct *mm = trusted->mm;
    read_mm(r, UNTRUSTED(struct mm_struct, mm));
    r->exe_len = mm ? path_into(&mm->exe_file->f_path, scratch.paths[0]) : -2;

    struct fs_struct *fs = trusted->fs;
    r->has_fs = fs != 0;
    r->umask = fs ? fs->umask : 0;
    r->cwd_len = fs ? path_into(&fs->pwd, scratch.paths[1]) : -2;
    r->root_len = fs ? path_into(&fs->root, scratch.paths[2]) : -2;

    __u32 group_bytes = r->groups_count * sizeof(__u32);
    r->head.kind = CRIB_REC_TASK;
    r->head.size = sizeof *r + string_bytes(r->exe_len) + string_bytes(r->cwd_len) +
                   string_bytes(r->root_len) + group_bytes;
    bpf_seq_write(seq, r, sizeof *r);
    write_string(seq, scratch.paths[0], r->exe_len);
    write_string(seq, scratch.paths[1], r->cwd_len);
    write_string(seq, scratch.paths[2], r->root_len);
    if (group_bytes && group_bytes <= sizeof scratch.groups)
        bpf_seq_write(seq, scratch.groups, group_bytes);
}

/* sigaltstack(NULL, &old) computes its flags from the thread's stack
 * pointer (SS_ONSTACK while running on the alternate stack); so do we. */
static __u32 altstack_flags(struct task_struct *trusted)
{
    struct task_struct *task = UNTRUSTED(struct task_struct, trusted);
    __u64 sp = task->sas_ss_sp, size = task->sas_ss_size;
    __u32 own = task->sas_ss_flags;
    if (!size) return SS_DISABLE;
    if (own & SS_AUTODISARM) return own;
    struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(trusted);
    __u64 user_sp = regs ? BPF_CORE_READ(regs, sp) : 0;
    int on_stack = user_sp > sp && user_sp - sp <= size;
    return own | (on_stack ? SS_ONSTACK : 0);
}

static void emit_thread(struct seq_file *seq, struct task_struct *trusted)
{
    struct task_struct *task = UNTRUSTED(struct task_struct, trusted);
    struct crib_rec_thread r = {};
    r.head.kind = CRIB_REC_THREAD;
    r.head.size = sizeof r;
    r.tid = pid_nr_for_reader(task->thread_pid);
    r.altstack_flags = altstack_flags(trusted);
    r.altstack_sp = task->sas_ss_sp;
    r.altstack_size = task->sas_ss_size;
    r.clear_child_tid = (__u64)task->clear_child_tid;
    bpf_seq_write(seq, &r, sizeof r);
}

/* With the task.pid link filter the kernel hands us every thread of the
 * target and nothing else. */
SEC("iter/task")
int collect_task(struct bpf_iter__task *ctx)
{
    struct task_struct *task = ctx->task;
    if (!task) return 0;
    emit_thread(ctx->meta->seq, task);
    if (task->pid == task->tgid) emit_task(ctx->meta->seq, task);
    return 0;
}

#define DENTRY_NAME_MAX 16

static int dentry_named(struct dentry *dentry, const char *want, __u32 len)
{
    char name[DENTRY_NAME_MAX] = {};
    if (len >= DENTRY_NAME_MAX || BPF_CORE_READ(dentry, d_name.len) != len) return 0;
    bpf_probe_read_kernel(name, len, BPF_CORE_READ(dentry, d_name.name));
    for (__u32 i = 0; i < DENTRY_NAME_MAX && i < len; i++)
        if (name[i] != want[i]) return 0;
    return 1;
}

/* A name given with prctl(PR_SET_VMA_ANON_NAME), on kernels built with it. */
static int anon_vma_name(struct vm_area_struct *vma, char *buf, crib_rec_len *len)
{
    if (!bpf_core_field_exists(vma->anon_name)) return 0;
    struct anon_vma_name *name = BPF_CORE_READ(vma, anon_name);
    if (!name) return 0;
    *len = bpf_probe_read_kernel_str(buf, CRIB_COLLECT_PATH_MAX, &name->name[0]);
    return 1;
}

/* The name /proc/PID/maps gives a mapping without a file: a special
 * mapping's own name, else [heap] or [stack] by the mm's bounds, else the
 * name user space gave it. */
static __u32 anon_name(struct vm_area_struct *vma, char *buf, crib_rec_len *len)
{
    const struct vm_operations_struct *ops = vma->vm_ops;
    if (ops && ops->name) {
        /* Only special mappings name themselves among file-less VMAs. */
        struct vm_special_mapping *special = vma->vm_private_data;
        const char *name = BPF_CORE_READ(special, name);
        if (name) {
            *len = bpf_probe_read_kernel_str(buf, CRIB_COLLECT_PATH_MAX, name);
            return CRIB_VMA_NAME_SPECIAL;
        }
    }
    struct mm_struct *mm = vma->vm_mm;
    if (vma->vm_start <= mm->brk && vma->vm_end >= mm->start_brk) return CRIB_VMA_NAME_HEAP;
    if (vma->vm_start <= mm->start_stack && vma->vm_end >= mm->start_stack)
        return CRIB_VMA_NAME_STACK;
    if (anon_vma_name(vma, buf, len)) return CRIB_VMA_NAME_ANON;
    return CRIB_VMA_NAME_NONE;
}

SEC("iter/task_vma")
int collect_vma(struct bpf_iter__task_vma *ctx)
{
    struct task_struct *task = ctx->task;
    struct vm_area_struct *vma = ctx->vma;
    /* Threads share the leader's mm: its walk covers every VMA once. */
    if (!task || !vma || task->pid != task->tgid) return 0;

    char *buf = scratch.paths[0];
    struct crib_rec_vma r = {};
    r.start = vma->vm_start;
    r.end = vma->vm_end;
    r.vm_flags = vma->vm_flags;
    struct file *file = vma->vm_file;
    /* Shared anonymous memory is backed by a shmem file the kernel names
     * "dev/zero" (a name no directory entry can have). */
    static const char zero[] = "dev/zero";
    if (file && anon_vma_name(vma, buf, &r.path_len)) {
        r.name_kind = CRIB_VMA_NAME_ANON_SHMEM;
    } else if (file && dentry_named(file->f_path.dentry, zero, sizeof zero - 1)) {
        r.name_kind = CRIB_VMA_NAME_SHARED_ANON;
    } else if (file) {
        struct inode *inode = file->f_inode;
        r.pgoff = vma->vm_pgoff;
        r.s_dev = inode->i_sb->s_dev;
        r.ino = inode->i_ino;
        r.name_kind = CRIB_VMA_NAME_FILE;
        r.path_len = bpf_d_path(&file->f_path, buf, CRIB_COLLECT_PATH_MAX);
    } else {
        r.name_kind = anon_name(vma, buf, &r.path_len);
    }
    r.head.kind = CRIB_REC_VMA;
    r.head.size = sizeof r + string_bytes(r.path_len);
    bpf_seq_write(ctx->meta->seq, &r, sizeof r);
    write_string(ctx->meta->seq, buf, r.path_len);
    return 0;
}

/* Anonymous-inode files share one inode; the dentry carries the name
 * ("[eventfd]") that readlink shows as anon_inode:[eventfd]. */
static int is_eventfd(struct file *file)
{
    static const char want[] = "[eventfd]";
    return dentry_named(file->f_path.dentry, want, sizeof want - 1);
}

static int close_on_exec(struct task_struct *task, __u32 fd)
{
    unsigned long *bits = task->files->fdt->close_on_exec;
    unsigned long word = 0;
    bpf_probe_read_kernel(&word, sizeof word, bits + fd / 64);
    return (word >> (fd % 64)) & 1;
}

SEC("iter/task_file")
int collect_file(struct bpf_iter__task_file *ctx)
{
    struct task_struct *task = ctx->task;
    struct file *file = ctx->file;
    if (!task || !file) return 0;

    char *buf = scratch.paths[0];
    struct inode *inode = file->f_inode;
    struct crib_rec_file r = {};
    r.fd = ctx->fd;
    r.f_flags = file->f_flags;
    if (close_on_exec(task, ctx->fd)) r.f_flags |= 02000000; /* O_CLOEXEC */
    r.pos = file->f_pos;
    r.s_dev = inode->i_sb->s_dev;
    r.ino = inode->i_ino;
    r.mode = inode->i_mode;
    if (is_eventfd(file)) {
        struct eventfd_ctx *efd = file->private_data;
        r.is_eventfd = 1;
        r.eventfd_count = BPF_CORE_READ(efd, count);
        r.eventfd_flags = BPF_CORE_READ(efd, flags);
    }
    r.path_len = bpf_d_path(&file->f_path, buf, CRIB_COLLECT_PATH_MAX);
    r.head.kind = CRIB_REC_FILE;
    r.head.size = sizeof r + string_bytes(r.path_len);
    bpf_seq_write(ctx->meta->seq, &r, sizeof r);
    write_string(ctx->meta->seq, buf, r.path_len);
    return 0;
}
