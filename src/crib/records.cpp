#include "crib/records.hpp"

#include <algorithm>
#include <cstring>
#include <string>

namespace crib::dump {
namespace {

template <size_t N>
Result<void> put_string(const std::string& text, char (&out)[N], const char* what) {
    if (text.size() >= N)
        return make_error(E2BIG, "{} '{}' is longer than {} bytes", what, text.substr(0, 64),
                          N - 1);
    std::memcpy(out, text.data(), text.size());
    out[text.size()] = '\0';
    return {};
}

template <size_t N>
std::string get_string(const char (&in)[N]) {
    return std::string(in, strnlen(in, N));
}

template <typename Record>
Result<const Record*> view(std::span<const uint8_t> bytes, const char* what) {
    if (bytes.size() < sizeof(Record))
        return make_error(EINVAL, "CRIB record '{}': {} bytes, expected {}", what, bytes.size(),
                          sizeof(Record));
    return reinterpret_cast<const Record*>(bytes.data());
}

}  // namespace

Result<void> fill_task(const image::Task& task, crib_task_info& out) {
    out.kind = CRIB_REC_TASK;
    out.pid = task.pid;
    out.ppid = task.ppid;
    out.pgid = task.pgid;
    out.sid = task.sid;
    out.umask = task.umask;
    out.personality = task.personality;
    std::copy(task.creds.uids.begin(), task.creds.uids.end(), out.uids);
    std::copy(task.creds.gids.begin(), task.creds.gids.end(), out.gids);
    if (task.creds.groups.size() > CRIB_GROUPS_MAX)
        return make_error(E2BIG, "{} supplementary groups, at most {}", task.creds.groups.size(),
                          CRIB_GROUPS_MAX);
    out.ngroups = static_cast<uint32_t>(task.creds.groups.size());
    std::copy(task.creds.groups.begin(), task.creds.groups.end(), out.groups);
    out.cap_inheritable = task.creds.cap_inheritable;
    out.cap_permitted = task.creds.cap_permitted;
    out.cap_effective = task.creds.cap_effective;
    out.cap_bounding = task.creds.cap_bounding;
    out.cap_ambient = task.creds.cap_ambient;
    for (uint32_t i = 0; i < CRIB_RLIMITS; ++i)
        out.rlimits[i] = {task.rlimits[i].cur, task.rlimits[i].max};
    for (uint32_t i = 0; i < CRIB_SIGNALS; ++i) {
        const image::SigAction& sa = task.sigactions[i];
        out.sigactions[i] = {sa.handler, sa.flags, sa.restorer, sa.mask};
    }
    for (uint32_t i = 0; i < 3; ++i)
        out.itimers[i] = {task.itimers[i].interval_us, task.itimers[i].value_us};
    const image::MmLayout& mm = task.mm;
    out.start_code = mm.start_code;
    out.end_code = mm.end_code;
    out.start_data = mm.start_data;
    out.end_data = mm.end_data;
    out.start_brk = mm.start_brk;
    out.brk = mm.brk;
    out.start_stack = mm.start_stack;
    out.arg_start = mm.arg_start;
    out.arg_end = mm.arg_end;
    out.env_start = mm.env_start;
    out.env_end = mm.env_end;
    if (mm.auxv.size() > CRIB_AUXV_MAX)
        return make_error(E2BIG, "auxv of {} words, at most {}", mm.auxv.size(), CRIB_AUXV_MAX);
    out.auxv_words = static_cast<uint32_t>(mm.auxv.size());
    std::copy(mm.auxv.begin(), mm.auxv.end(), out.auxv);
    CRIB_TRY(put_string(task.comm, out.comm, "comm"));
    CRIB_TRY(put_string(task.exe, out.exe, "exe path"));
    CRIB_TRY(put_string(task.cwd, out.cwd, "cwd"));
    CRIB_TRY(put_string(task.root, out.root, "root"));
    return {};
}

Result<void> fill_thread(const image::Thread& thread, crib_thread& out) {
    out.kind = CRIB_REC_THREAD;
    out.tid = thread.tid;
    std::copy(thread.regs.begin(), thread.regs.end(), out.regs);
    out.blocked = thread.blocked;
    out.altstack_sp = thread.altstack.sp;
    out.altstack_size = thread.altstack.size;
    out.altstack_flags = thread.altstack.flags;
    out.rseq_address = thread.rseq.address;
    out.rseq_length = thread.rseq.length;
    out.rseq_flags = thread.rseq.flags;
    out.rseq_signature = thread.rseq.signature;
    out.clear_child_tid = thread.clear_child_tid;
    if (thread.xstate.size() > CRIB_XSTATE_MAX)
        return make_error(E2BIG, "thread {}: xstate of {} bytes, at most {}", thread.tid,
                          thread.xstate.size(), CRIB_XSTATE_MAX);
    out.xstate_size = static_cast<uint32_t>(thread.xstate.size());
    std::copy(thread.xstate.begin(), thread.xstate.end(), out.xstate);
    return {};
}

void fill_signal(int32_t tid, const image::PendingSignal& signal, crib_signal& out) {
    out.kind = CRIB_REC_SIGNAL;
    out.tid = tid;
    std::copy(signal.siginfo.begin(), signal.siginfo.end(), out.siginfo);
}

Result<void> fill_vma(const image::Vma& vma, crib_vma& out) {
    out.kind = CRIB_REC_VMA;
    out.prot = vma.prot;
    out.flags = vma.flags;
    out.vma_kind = static_cast<uint32_t>(vma.kind);
    out.start = vma.start;
    out.end = vma.end;
    out.pgoff = vma.pgoff;
    out.dev = vma.dev;
    out.ino = vma.ino;
    return put_string(vma.path, out.path, "mapping path");
}

Result<void> fill_file(const image::FileDesc& file, crib_file& out) {
    out.kind = CRIB_REC_FILE;
    out.fd = file.fd;
    out.file_kind = static_cast<uint32_t>(file.kind);
    out.flags = file.flags;
    out.mode = file.mode;
    out.eventfd_flags = file.eventfd_flags;
    out.pos = file.pos;
    out.dev = file.dev;
    out.ino = file.ino;
    out.eventfd_count = file.eventfd_count;
    out.data_size = file.data.size();
    return put_string(file.path, out.path, "file path");
}

Result<void> ProcessBuilder::add(std::span<const uint8_t> record) {
    if (record.size() < sizeof(uint32_t))
        return make_error(EINVAL, "CRIB record of {} bytes has no kind", record.size());
    uint32_t kind;
    std::memcpy(&kind, record.data(), sizeof(kind));
    switch (kind) {
        case CRIB_REC_TASK: {
            const crib_task_info* in = CRIB_TRY(view<crib_task_info>(record, "task"));
            if (m_have_task) return make_error(EINVAL, "CRIB record 'task' sent twice");
            if (in->ngroups > CRIB_GROUPS_MAX || in->auxv_words > CRIB_AUXV_MAX)
                return make_error(EINVAL, "CRIB record 'task': group or auxv count out of range");
            image::Task& task = m_process.task;
            task.pid = in->pid;
            task.ppid = in->ppid;
            task.pgid = in->pgid;
            task.sid = in->sid;
            task.umask = in->umask;
            task.personality = in->personality;
            std::copy(std::begin(in->uids), std::end(in->uids), task.creds.uids.begin());
            std::copy(std::begin(in->gids), std::end(in->gids), task.creds.gids.begin());
            task.creds.groups.assign(in->groups, in->groups + in->ngroups);
            task.creds.cap_inheritable = in->cap_inheritable;
            task.creds.cap_permitted = in->cap_permitted;
            task.creds.cap_effective = in->cap_effective;
            task.creds.cap_bounding = in->cap_bounding;
            task.creds.cap_ambient = in->cap_ambient;
            for (uint32_t i = 0; i < CRIB_RLIMITS; ++i)
                task.rlimits[i] = {in->rlimits[i].cur, in->rlimits[i].max};
            for (uint32_t i = 0; i < CRIB_SIGNALS; ++i) {
                const crib_sigaction& sa = in->sigactions[i];
                task.sigactions[i] = {sa.handler, sa.flags, sa.restorer, sa.mask};
            }
            for (uint32_t i = 0; i < 3; ++i)
                task.itimers[i] = {in->itimers[i].interval_us, in->itimers[i].value_us};
            image::MmLayout& mm = task.mm;
            mm.start_code = in->start_code;
            mm.end_code = in->end_code;
            mm.start_data = in->start_data;
            mm.end_data = in->end_data;
            mm.start_brk = in->start_brk;
            mm.brk = in->brk;
            mm.start_stack = in->start_stack;
            mm.arg_start = in->arg_start;
            mm.arg_end = in->arg_end;
            mm.env_start = in->env_start;
            mm.env_end = in->env_end;
            mm.auxv.assign(in->auxv, in->auxv + in->auxv_words);
            task.comm = get_string(in->comm);
            task.exe = get_string(in->exe);
            task.cwd = get_string(in->cwd);
            task.root = get_string(in->root);
            m_have_task = true;
            return {};
        }
        case CRIB_REC_THREAD: {
            const crib_thread* in = CRIB_TRY(view<crib_thread>(record, "thread"));
            if (in->xstate_size > CRIB_XSTATE_MAX)
                return make_error(EINVAL, "CRIB record 'thread' {}: xstate size {} out of range",
                                  in->tid, in->xstate_size);
            image::Thread& thread = m_process.threads.emplace_back();
            thread.tid = in->tid;
            std::copy(std::begin(in->regs), std::end(in->regs), thread.regs.begin());
            thread.blocked = in->blocked;
            thread.altstack = {in->altstack_sp, in->altstack_size, in->altstack_flags};
            thread.rseq = {in->rseq_address, in->rseq_length, in->rseq_flags, in->rseq_signature};
            thread.clear_child_tid = in->clear_child_tid;
            thread.xstate.assign(in->xstate, in->xstate + in->xstate_size);
            return {};
        }
        case CRIB_REC_SIGNAL: {
            const crib_signal* in = CRIB_TRY(view<crib_signal>(record, "signal"));
            image::PendingSignal signal;
            std::copy(std::begin(in->siginfo), std::end(in->siginfo), signal.siginfo.begin());
            if (in->tid == 0) {
                m_process.task.shared_pending.push_back(signal);
                return {};
            }
            for (image::Thread& thread : m_process.threads)
                if (thread.tid == in->tid) {
                    thread.pending.push_back(signal);
                    return {};
                }
            return make_error(EINVAL, "CRIB record 'signal' for thread {} before its thread",
                              in->tid);
        }
        case CRIB_REC_VMA: {
            const crib_vma* in = CRIB_TRY(view<crib_vma>(record, "vma"));
            if (in->vma_kind > static_cast<uint32_t>(image::VmaKind::Vsyscall))
                return make_error(EINVAL, "CRIB record 'vma': kind {} unknown", in->vma_kind);
            image::Vma& vma = m_process.vmas.emplace_back();
            vma.start = in->start;
            vma.end = in->end;
            vma.prot = in->prot;
            vma.flags = in->flags;
            vma.kind = static_cast<image::VmaKind>(in->vma_kind);
            vma.pgoff = in->pgoff;
            vma.dev = in->dev;
            vma.ino = in->ino;
            vma.path = get_string(in->path);
            return {};
        }
        case CRIB_REC_FILE: {
            const crib_file* in = CRIB_TRY(view<crib_file>(record, "file"));
            if (in->file_kind > static_cast<uint32_t>(image::FileKind::Unsupported))
                return make_error(EINVAL, "CRIB record 'file': kind {} unknown", in->file_kind);
            image::FileDesc& file = m_process.files.emplace_back();
            file.fd = in->fd;
            file.kind = static_cast<image::FileKind>(in->file_kind);
            file.flags = in->flags;
            file.mode = in->mode;
            file.eventfd_flags = in->eventfd_flags;
            file.pos = in->pos;
            file.dev = in->dev;
            file.ino = in->ino;
            file.eventfd_count = in->eventfd_count;
            file.path = get_string(in->path);
            m_expected_data.push_back(in->data_size);
            return {};
        }
        case CRIB_REC_CHUNK:
            return add_chunk(*CRIB_TRY(view<crib_chunk>(record, "chunk")));
        default:
            return make_error(EINVAL, "CRIB record of unknown kind {}", kind);
    }
}

Result<void> ProcessBuilder::add_chunk(const crib_chunk& chunk) {
    if (chunk.size > CRIB_CHUNK_MAX)
        return make_error(EINVAL, "CRIB record 'chunk' for fd {}: size {} out of range", chunk.fd,
                          chunk.size);
    for (size_t i = 0; i < m_process.files.size(); ++i) {
        image::FileDesc& file = m_process.files[i];
        if (file.fd != chunk.fd) continue;
        if (chunk.offset != file.data.size() || file.data.size() + chunk.size > m_expected_data[i])
            return make_error(EINVAL, "CRIB record 'chunk' for fd {}: offset {} out of order",
                              chunk.fd, chunk.offset);
        file.data.insert(file.data.end(), chunk.data, chunk.data + chunk.size);
        return {};
    }
    return make_error(EINVAL, "CRIB record 'chunk' for fd {} before its file", chunk.fd);
}

Result<image::Process> ProcessBuilder::finish() {
    if (!m_have_task) return make_error(EINVAL, "the dump programs sent no task record");
    for (size_t i = 0; i < m_process.files.size(); ++i)
        if (m_process.files[i].data.size() != m_expected_data[i])
            return make_error(EINVAL, "fd {}: {} of {} pipe bytes arrived", m_process.files[i].fd,
                              m_process.files[i].data.size(), m_expected_data[i]);
    auto& threads = m_process.threads;
    std::stable_partition(threads.begin(), threads.end(), [&](const image::Thread& thread) {
        return thread.tid == m_process.task.pid;
    });
    std::sort(m_process.vmas.begin(), m_process.vmas.end(),
              [](const image::Vma& a, const image::Vma& b) { return a.start < b.start; });
    // Files and their expected sizes were checked above; the order is all that is left.
    std::sort(m_process.files.begin(), m_process.files.end(),
              [](const image::FileDesc& a, const image::FileDesc& b) { return a.fd < b.fd; });
    return std::move(m_process);
}

}  // namespace crib::dump
