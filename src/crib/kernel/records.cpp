#include "crib/kernel/records.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <string_view>

#include "collect_records.h"

namespace crib::kernel {
namespace {

// rt_sigaction reports only these sa_flags bits (the kernel's UAPI_SA_FLAGS
// on x86-64); the others are kernel-internal (SA_IMMUTABLE...).
// glibc's <signal.h> lacks the last two.
constexpr uint64_t kSaExposeTagbits = 0x800, kSaRestorer = 0x04000000;
constexpr uint64_t kUapiSaFlags = SA_NOCLDSTOP | SA_NOCLDWAIT | SA_SIGINFO | SA_ONSTACK |
                                  SA_RESTART | SA_NODEFER | SA_RESETHAND | kSaRestorer |
                                  kSaExposeTagbits;

// vm_flags bits (include/linux/mm.h).
constexpr uint64_t kVmRead = 0x1, kVmWrite = 0x2, kVmExec = 0x4, kVmMayShare = 0x80,
                   kVmGrowsDown = 0x100;
constexpr uint64_t kPageShift = 12;
constexpr uint64_t kAtNull = 0;

struct NamedVma {
    std::string_view name;
    image::VmaKind kind;
};
// Special mappings by the name /proc/PID/maps gives them; others ([uprobes])
// stay anonymous memory with their name kept.
constexpr std::array kSpecialVmas{
    NamedVma{"[vdso]", image::VmaKind::Vdso},
    NamedVma{"[vvar]", image::VmaKind::Vvar},
    NamedVma{"[vvar_vclock]", image::VmaKind::Vvar},
    NamedVma{"[vsyscall]", image::VmaKind::Vsyscall},
};

// The kernel keeps dev_t as major << 20 | minor (MKDEV); stat(2) and the
// image use the user-space encoding (makedev).
uint64_t user_dev(uint64_t kernel_dev) {
    return makedev(static_cast<unsigned>(kernel_dev >> 20),
                   static_cast<unsigned>(kernel_dev & 0xfffff));
}

// Reads one record's fixed part and the strings after it.
class RecordReader {
public:
    RecordReader(std::span<const uint8_t> record, size_t offset, pid_t pid)
        : m_record(record), m_at(0), m_offset(offset), m_pid(pid) {}

    template <typename T>
    T fixed() {
        T value;
        std::memcpy(&value, m_record.data(), sizeof value);
        m_at = sizeof value;
        return value;
    }

    // A string of `len` bytes with its NUL (bpf_d_path's count), or the
    // errno bpf_d_path returned as an error about `what`.
    Result<std::string> string(crib_rec_len len, std::string_view what) {
        if (len < 0)
            return make_error(-len, "pid {}: {} has no path: {}", m_pid, what, errno_name(-len));
        auto bytes = CRIB_TRY(take(static_cast<size_t>(len), what));
        std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        return std::string(text.substr(0, text.find('\0')));
    }

    Result<std::span<const uint8_t>> take(size_t bytes, std::string_view what) {
        if (bytes > m_record.size() - m_at)
            return make_error(EPROTO, "pid {}: record at offset {}: {} runs past its end", m_pid,
                              m_offset, what);
        auto part = m_record.subspan(m_at, bytes);
        m_at += bytes;
        return part;
    }

    pid_t pid() const { return m_pid; }

private:
    std::span<const uint8_t> m_record;
    size_t m_at;
    size_t m_offset;
    pid_t m_pid;
};

image::Thread& thread_of(image::Process& out, int32_t tid) {
    auto it = std::find_if(out.threads.begin(), out.threads.end(),
                           [tid](const image::Thread& t) { return t.tid == tid; });
    if (it != out.threads.end()) return *it;
    out.threads.emplace_back().tid = tid;
    return out.threads.back();
}

std::vector<uint64_t> auxv_through_null(const crib_rec_task& r) {
    uint32_t words = std::min<uint32_t>(r.auxv_words, CRIB_COLLECT_AUXV_WORDS) & ~1u;
    std::vector<uint64_t> auxv;
    for (uint32_t i = 0; i < words; i += 2) {
        auxv.push_back(r.auxv[i]);
        auxv.push_back(r.auxv[i + 1]);
        if (r.auxv[i] == kAtNull) break;
    }
    return auxv;
}

Result<void> decode_task(RecordReader& in, image::Process& out) {
    auto r = in.fixed<crib_rec_task>();
    image::Task& task = out.task;
    task.pid = r.pid;
    task.ppid = r.ppid;
    task.pgid = r.pgid;
    task.sid = r.sid;
    task.comm.assign(r.comm, strnlen(r.comm, sizeof r.comm));
    task.umask = r.umask;
    task.personality = r.personality;

    image::Credentials& creds = task.creds;
    std::copy(std::begin(r.uids), std::end(r.uids), creds.uids.begin());
    std::copy(std::begin(r.gids), std::end(r.gids), creds.gids.begin());
    creds.cap_inheritable = r.cap_inheritable;
    creds.cap_permitted = r.cap_permitted;
    creds.cap_effective = r.cap_effective;
    creds.cap_bounding = r.cap_bounding;
    creds.cap_ambient = r.cap_ambient;

    for (uint32_t i = 0; i < image::kRlimitCount; ++i)
        task.rlimits[i] = {r.rlimits[i].cur, r.rlimits[i].max};
    for (uint32_t i = 0; i < image::kSignalCount; ++i) {
        const crib_rec_sigaction& a = r.sigactions[i];
        task.sigactions[i] = {a.handler, a.flags & kUapiSaFlags, a.restorer, a.mask};
    }

    image::MmLayout& mm = task.mm;
    mm = {r.start_code,  r.end_code,  r.start_data, r.end_data,  r.start_brk, r.brk,
          r.start_stack, r.arg_start, r.arg_end,    r.env_start, r.env_end,   auxv_through_null(r)};

    task.exe = CRIB_TRY(in.string(r.exe_len, "exe"));
    task.cwd = CRIB_TRY(in.string(r.cwd_len, "cwd"));
    task.root = CRIB_TRY(in.string(r.root_len, "root"));

    if (r.groups_total > r.groups_count)
        return make_error(E2BIG, "pid {}: {} supplementary groups, more than the {} collected",
                          in.pid(), r.groups_total, r.groups_count);
    auto groups = CRIB_TRY(in.take(r.groups_count * sizeof(uint32_t), "groups"));
    creds.groups.resize(r.groups_count);
    std::memcpy(creds.groups.data(), groups.data(), groups.size());
    return {};
}

Result<void> decode_thread(RecordReader& in, image::Process& out) {
    auto r = in.fixed<crib_rec_thread>();
    image::Thread& thread = thread_of(out, r.tid);
    thread.altstack = {r.altstack_sp, r.altstack_size, r.altstack_flags};
    thread.clear_child_tid = r.clear_child_tid;
    return {};
}

Result<void> decode_vma(RecordReader& in, image::Process& out) {
    auto r = in.fixed<crib_rec_vma>();
    image::Vma vma;
    vma.start = r.start;
    vma.end = r.end;
    vma.prot = (r.vm_flags & kVmRead ? PROT_READ : 0) | (r.vm_flags & kVmWrite ? PROT_WRITE : 0) |
               (r.vm_flags & kVmExec ? PROT_EXEC : 0);
    // /proc/PID/maps prints 's' for VM_MAYSHARE: a read-only MAP_SHARED
    // mapping of a read-only file drops VM_SHARED but stays shared.
    vma.flags = (r.vm_flags & kVmMayShare ? MAP_SHARED : MAP_PRIVATE) |
                (r.vm_flags & kVmGrowsDown ? MAP_GROWSDOWN : 0);
    switch (r.name_kind) {
        case CRIB_VMA_NAME_FILE:
            vma.kind = image::VmaKind::File;
            vma.path = CRIB_TRY(in.string(r.path_len, fmt::format("vma {:#x}", r.start)));
            vma.pgoff = r.pgoff << kPageShift;
            vma.dev = user_dev(r.s_dev);
            vma.ino = r.ino;
            break;
        case CRIB_VMA_NAME_SPECIAL: {
            vma.path = CRIB_TRY(in.string(r.path_len, fmt::format("vma {:#x}", r.start)));
            auto it = std::find_if(kSpecialVmas.begin(), kSpecialVmas.end(),
                                   [&](const NamedVma& s) { return s.name == vma.path; });
            vma.kind = it == kSpecialVmas.end() ? image::VmaKind::Anon : it->kind;
            break;
        }
        case CRIB_VMA_NAME_HEAP:
            vma.kind = image::VmaKind::Heap;
            vma.path = "[heap]";
            break;
        case CRIB_VMA_NAME_STACK:
            vma.kind = image::VmaKind::Stack;
            vma.path = "[stack]";
            break;
        default:
            vma.kind = image::VmaKind::Anon;
            break;
    }
    if (vma.kind != image::VmaKind::File) vma.flags |= MAP_ANONYMOUS;
    out.vmas.push_back(std::move(vma));
    return {};
}

image::FileKind file_kind(const crib_rec_file& r) {
    if (r.is_eventfd) return image::FileKind::Eventfd;
    switch (r.mode & S_IFMT) {
        case S_IFREG:
            return image::FileKind::Regular;
        case S_IFDIR:
            return image::FileKind::Directory;
        case S_IFCHR:
            return image::FileKind::CharDevice;
        case S_IFIFO:
            return image::FileKind::Pipe;
        default:
            return image::FileKind::Unsupported;
    }
}

Result<void> decode_file(RecordReader& in, image::Process& out) {
    auto r = in.fixed<crib_rec_file>();
    image::FileDesc file;
    file.fd = r.fd;
    file.kind = file_kind(r);
    file.flags = r.f_flags;
    file.pos = static_cast<uint64_t>(r.pos);
    file.path = CRIB_TRY(in.string(r.path_len, fmt::format("fd {}", r.fd)));
    file.dev = user_dev(r.s_dev);
    file.ino = r.ino;
    file.mode = r.mode;
    if (r.is_eventfd) {
        file.eventfd_count = r.eventfd_count;
        // What a restore passes to eventfd(2): the counter's own mode, and
        // the descriptor's current O_NONBLOCK / close-on-exec state (fcntl
        // may have changed them since creation).
        file.eventfd_flags =
            (r.eventfd_flags & EFD_SEMAPHORE) | (r.f_flags & (EFD_NONBLOCK | EFD_CLOEXEC));
    }
    out.files.push_back(std::move(file));
    return {};
}

struct RecordKind {
    uint32_t kind;
    size_t fixed_size;
    Result<void> (*decode)(RecordReader&, image::Process&);
};
constexpr std::array kRecordKinds{
    RecordKind{CRIB_REC_TASK, sizeof(crib_rec_task), decode_task},
    RecordKind{CRIB_REC_THREAD, sizeof(crib_rec_thread), decode_thread},
    RecordKind{CRIB_REC_VMA, sizeof(crib_rec_vma), decode_vma},
    RecordKind{CRIB_REC_FILE, sizeof(crib_rec_file), decode_file},
};

}  // namespace

Result<void> decode_records(std::span<const uint8_t> bytes, pid_t pid, image::Process& out) {
    size_t offset = 0;
    while (offset < bytes.size()) {
        crib_rec_head head;
        if (bytes.size() - offset < sizeof head)
            return make_error(EPROTO, "pid {}: truncated record head at offset {}", pid, offset);
        std::memcpy(&head, bytes.data() + offset, sizeof head);
        auto kind = std::find_if(kRecordKinds.begin(), kRecordKinds.end(),
                                 [&](const RecordKind& k) { return k.kind == head.kind; });
        if (kind == kRecordKinds.end())
            return make_error(EPROTO, "pid {}: unknown record kind {} at offset {}", pid, head.kind,
                              offset);
        if (head.size < kind->fixed_size || head.size > bytes.size() - offset)
            return make_error(EPROTO, "pid {}: record of kind {} at offset {} has size {}", pid,
                              head.kind, offset, head.size);
        RecordReader reader(bytes.subspan(offset, head.size), offset, pid);
        CRIB_TRY(kind->decode(reader, out));
        offset += head.size;
    }
    return {};
}

}  // namespace crib::kernel
