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
#include "crib/proc/procfs_collector.hpp"

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

// How each name source of a VMA record becomes kind and path: the path is
// fixed, or made from the record's string ("{}").
struct VmaName {
    uint32_t name_kind;
    image::VmaKind kind;
    std::string_view path;
};
constexpr std::array kVmaNames{
    VmaName{CRIB_VMA_NAME_NONE, image::VmaKind::Anon, ""},
    VmaName{CRIB_VMA_NAME_FILE, image::VmaKind::File, "{}"},
    VmaName{CRIB_VMA_NAME_SPECIAL, image::VmaKind::Anon, "{}"},  // kind from kSpecialVmas
    VmaName{CRIB_VMA_NAME_HEAP, image::VmaKind::Heap, "[heap]"},
    VmaName{CRIB_VMA_NAME_STACK, image::VmaKind::Stack, "[stack]"},
    VmaName{CRIB_VMA_NAME_SHARED_ANON, image::VmaKind::Anon, ""},
    VmaName{CRIB_VMA_NAME_ANON, image::VmaKind::Anon, "[anon:{}]"},
    VmaName{CRIB_VMA_NAME_ANON_SHMEM, image::VmaKind::Anon, "[anon_shmem:{}]"},
};

struct NamedVma {
    std::string_view name;
    image::VmaKind kind;
};
// Special mappings by the name they give themselves; others ([uprobes])
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
    // errno bpf_d_path returned as an error about what `describe()` names
    // (called only then: a process may have 10,000 of these).
    template <typename Describe>
    Result<std::string> string(crib_rec_len len, Describe describe) {
        if (len < 0)
            return make_error(-len, "pid {}: {} has no path: {}", m_pid, describe(),
                              errno_name(-len));
        auto bytes = CRIB_TRY(take(static_cast<size_t>(len), describe));
        std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
        return std::string(text.substr(0, text.find('\0')));
    }

    template <typename Describe>
    Result<std::span<const uint8_t>> take(size_t bytes, Describe describe) {
        if (bytes > m_record.size() - m_at)
            return make_error(EPROTO, "pid {}: record at offset {}: {} runs past its end", m_pid,
                              m_offset, describe());
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

// What getitimer(2) answers, from the kernel's timer state at r.now_ns:
// microseconds, truncated as the kernel truncates nanoseconds. A timer due
// but not yet fired reads as about to fire (the kernel says one tick; one
// microsecond here).
std::array<image::Itimer, 3> itimers(const crib_rec_task& r) {
    auto us = [](int64_t ns) { return static_cast<uint64_t>(ns) / 1000; };
    auto left = [&](uint64_t expires, uint64_t now) -> uint64_t {
        if (!expires) return 0;
        return expires > now ? us(static_cast<int64_t>(expires - now)) : 1;
    };
    int64_t real_left = r.real_expires_ns - r.now_ns;
    uint64_t real = !r.real_timer_active ? 0 : real_left > 0 ? us(real_left) : 1;
    return {
        image::Itimer{us(r.real_interval_ns), real},
        image::Itimer{us(static_cast<int64_t>(r.virt_interval_ns)),
                      left(r.virt_expires_ns, r.utime_ns)},
        image::Itimer{us(static_cast<int64_t>(r.prof_interval_ns)),
                      left(r.prof_expires_ns, r.utime_ns + r.stime_ns)},
    };
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

    task.itimers = itimers(r);

    image::MmLayout& mm = task.mm;
    mm = {r.start_code,  r.end_code,  r.start_data, r.end_data,  r.start_brk, r.brk,
          r.start_stack, r.arg_start, r.arg_end,    r.env_start, r.env_end,   auxv_through_null(r)};

    task.exe = CRIB_TRY(in.string(r.exe_len, [] { return "exe"; }));
    task.cwd = CRIB_TRY(in.string(r.cwd_len, [] { return "cwd"; }));
    task.root = CRIB_TRY(in.string(r.root_len, [] { return "root"; }));

    if (r.groups_total > r.groups_count)
        return make_error(E2BIG, "pid {}: {} supplementary groups, more than the {} collected",
                          in.pid(), r.groups_total, r.groups_count);
    auto groups = CRIB_TRY(in.take(r.groups_count * sizeof(uint32_t), [] { return "groups"; }));
    creds.groups.resize(r.groups_count);
    if (!groups.empty()) std::memcpy(creds.groups.data(), groups.data(), groups.size());
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
    auto name = std::find_if(kVmaNames.begin(), kVmaNames.end(),
                             [&](const VmaName& n) { return n.name_kind == r.name_kind; });
    if (name == kVmaNames.end())
        return make_error(EPROTO, "pid {}: vma {:#x}: unknown name kind {}", in.pid(), r.start,
                          r.name_kind);
    image::Vma vma;
    vma.start = r.start;
    vma.end = r.end;
    vma.prot = (r.vm_flags & kVmRead ? PROT_READ : 0) | (r.vm_flags & kVmWrite ? PROT_WRITE : 0) |
               (r.vm_flags & kVmExec ? PROT_EXEC : 0);
    // /proc/PID/maps prints 's' for VM_MAYSHARE: a read-only MAP_SHARED
    // mapping of a read-only file drops VM_SHARED but stays shared.
    vma.flags = (r.vm_flags & kVmMayShare ? MAP_SHARED : MAP_PRIVATE) |
                (r.vm_flags & kVmGrowsDown ? MAP_GROWSDOWN : 0);
    vma.kind = name->kind;
    if (name->path.find("{}") == std::string_view::npos) {
        vma.path = name->path;
    } else {
        std::string text =
            CRIB_TRY(in.string(r.path_len, [&] { return fmt::format("vma {:#x}", r.start); }));
        vma.path = fmt::format(fmt::runtime(name->path), text);
    }
    auto special = std::find_if(kSpecialVmas.begin(), kSpecialVmas.end(),
                                [&](const NamedVma& s) { return s.name == vma.path; });
    if (r.name_kind == CRIB_VMA_NAME_SPECIAL && special != kSpecialVmas.end())
        vma.kind = special->kind;
    if (vma.kind == image::VmaKind::File) {
        vma.pgoff = r.pgoff << kPageShift;
        vma.dev = user_dev(r.s_dev);
        vma.ino = r.ino;
    } else {
        vma.flags |= MAP_ANONYMOUS;
    }
    out.vmas.push_back(std::move(vma));
    return {};
}

Result<void> decode_file(RecordReader& in, image::Process& out) {
    auto r = in.fixed<crib_rec_file>();
    image::FileDesc file;
    file.fd = r.fd;
    file.path = CRIB_TRY(in.string(r.path_len, [&] { return fmt::format("fd {}", r.fd); }));
    file.kind = proc::file_kind(file.path, r.mode, r.is_eventfd);
    file.flags = r.f_flags;
    file.pos = static_cast<uint64_t>(r.pos);
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
