#include "crib/restore/address_space.hpp"

#include <fcntl.h>
#include <linux/capability.h>
#include <linux/userfaultfd.h>
#include <sys/fsuid.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <fstream>
#include <sstream>

#include "crib/image/pages_reader.hpp"
#include "crib/restore/restorer/abi.h"
#include "crib/restore/restorer_blob.hpp"

namespace crib::restore {

namespace {

using image::kPageSize;

// The top of the 47-bit user address space: nothing of the saved process or
// of ours lies above it but [vsyscall], which cannot be unmapped anyway.
constexpr uint64_t kUserTop = 0x7ffffffff000;
constexpr uint64_t kUserBottom = 0x10000;
constexpr uint64_t kLeaderStack = 64 * 1024;
constexpr uint64_t kThreadStack = 32 * 1024;
constexpr uint64_t kHugePage = 2 << 20;  // a PMD's reach

uint64_t page_round(uint64_t n) {
    return (n + kPageSize - 1) & ~(kPageSize - 1);
}

// The first address from AT on that lies as far into a 2 MiB page as WANT
// does: from a mapping staged there the restorer's mremap moves whole page
// tables (and any huge page) instead of 4 KiB entries one by one.
uint64_t congruent_from(uint64_t at, uint64_t want) {
    return at + ((want - at) & (kHugePage - 1));
}

bool is_special(image::VmaKind kind) {
    return kind == image::VmaKind::Vdso || kind == image::VmaKind::Vvar ||
           kind == image::VmaKind::Vsyscall;
}

bool is_special_name(const std::string& name) {
    return name == "[vdso]" || name == "[vvar]" || name == "[vvar_vclock]";
}

// Bump allocator over the argument area of the hole.
class Arena {
public:
    Arena(uint64_t base, uint64_t size) : m_next(base), m_end(base + size) {}
    template <typename T>
    T* take(size_t count) {
        uint64_t at = (m_next + 15) & ~uint64_t{15};
        m_next = at + sizeof(T) * count;
        if (m_next > m_end) return nullptr;
        return reinterpret_cast<T*>(at);
    }

private:
    uint64_t m_next, m_end;
};

// Finds [start, start+size) free of `busy` (sorted, merged), above 4 GiB if
// it can: low addresses are where non-PIE programs and brk live.
std::optional<uint64_t> find_hole(std::vector<std::pair<uint64_t, uint64_t>> busy, uint64_t size) {
    std::sort(busy.begin(), busy.end());
    for (uint64_t floor : {uint64_t{1} << 32, kUserBottom}) {
        uint64_t cursor = floor;
        for (const auto& [start, end] : busy) {
            if (end <= cursor) continue;
            if (start > cursor && start - cursor >= size) return cursor;
            cursor = std::max(cursor, end);
        }
        if (cursor < kUserTop && kUserTop - cursor >= size) return cursor;
    }
    return std::nullopt;
}

// Fills a staged anonymous private mapping with UFFDIO_COPY from pages.img's
// page cache: the kernel takes a fresh page and copies into it in one go,
// where prefaulting clears every page before the read copies over it
// (1 GiB here: 0.62 s of CPU against 0.94 s). Pages not saved stay absent.
// False when userfaultfd is not available to this process: the caller then
// fills the mapping the other way.
Result<bool> copy_into_anonymous(const image::Vma& vma, uint64_t at,
                                 const image::PagesReader& pages) {
    constexpr int kUserModeOnly = 1;  // UFFD_USER_MODE_ONLY: enough, and allowed unprivileged
    const int uffd = static_cast<int>(syscall(SYS_userfaultfd, O_CLOEXEC | kUserModeOnly));
    if (uffd < 0) return false;
    const uint64_t size = vma.end - vma.start;
    uffdio_api api{UFFD_API, 0, {}};
    uffdio_register range{{at, size}, UFFDIO_REGISTER_MODE_MISSING, 0};
    if (ioctl(uffd, UFFDIO_API, &api) != 0 || ioctl(uffd, UFFDIO_REGISTER, &range) != 0) {
        close(uffd);
        return false;
    }
    auto copy_runs = [&]() -> Result<void> {
        for (const image::PageRun& run : vma.pages) {
            const uint64_t dest = at + (run.address - vma.start);
            CRIB_TRY(pages.read_mapped(
                run, [&](uint64_t offset, const uint8_t* bytes, uint64_t length) -> Result<void> {
                    for (uint64_t done = 0; done < length;) {
                        uffdio_copy copy{dest + offset + done,
                                         reinterpret_cast<uint64_t>(bytes) + done, length - done, 0,
                                         0};
                        const int ret = ioctl(uffd, UFFDIO_COPY, &copy);
                        if (copy.copy > 0) done += copy.copy;  // EAGAIN: partly done, go on
                        if (ret != 0 && errno != EAGAIN)
                            return make_error(errno,
                                              "mapping {:#x}-{:#x}: cannot copy the saved pages at "
                                              "{:#x} into place: {}",
                                              vma.start, vma.end, run.address + offset + done,
                                              strerror(errno));
                    }
                    return {};
                }));
        }
        return {};
    };
    Result<void> copied = copy_runs();
    uffdio_range whole{at, size};
    ioctl(uffd, UFFDIO_UNREGISTER, &whole);
    close(uffd);
    if (!copied) return std::move(copied).error();
    return true;
}

// Maps one saved VMA at `at` (writable while it is filled) and fills it.
Result<void> stage_vma(const image::Vma& vma, uint64_t at, const image::PagesReader* pages) {
    uint64_t size = vma.end - vma.start;
    bool shared = vma.flags & MAP_SHARED;
    int flags = MAP_FIXED | (shared ? MAP_SHARED : MAP_PRIVATE) | (vma.flags & MAP_GROWSDOWN);
    void* where = reinterpret_cast<void*>(at);
    // Writable while it is filled; with nothing to fill it keeps its own
    // protection (execute comes with the final mprotect), so a large
    // PROT_NONE reservation is not charged as writable memory.
    int staging_prot = vma.pages.empty() ? static_cast<int>(vma.prot & (PROT_READ | PROT_WRITE))
                                         : PROT_READ | PROT_WRITE;
    void* got;
    if (vma.kind == image::VmaKind::File) {
        bool writes_file = shared && (vma.prot & PROT_WRITE);
        int fd = open(vma.path.c_str(), (writes_file ? O_RDWR : O_RDONLY) | O_CLOEXEC);
        if (fd < 0)
            return make_error(errno, "mapping {:#x}-{:#x}: cannot open '{}': {}", vma.start,
                              vma.end, vma.path, strerror(errno));
        // A shared file mapping's contents are the file's: it keeps its
        // protection and is not filled.
        got = mmap(where, size, shared ? (vma.prot & (PROT_READ | PROT_WRITE)) : staging_prot,
                   flags, fd, vma.pgoff);
        int saved = errno;
        close(fd);
        if (got == MAP_FAILED)
            return make_error(saved, "mapping {:#x}-{:#x}: cannot map '{}' at offset {}: {}",
                              vma.start, vma.end, vma.path, vma.pgoff, strerror(saved));
        if (shared) return {};
    } else {
        got = mmap(where, size, staging_prot, flags | MAP_ANONYMOUS, -1, 0);
        if (got == MAP_FAILED)
            return make_error(errno, "mapping {:#x}-{:#x}: cannot stage anonymous memory: {}",
                              vma.start, vma.end, strerror(errno));
    }
    if (vma.pages.empty()) return {};
    const bool anonymous_private =
        vma.kind != image::VmaKind::File && !shared && !(vma.flags & MAP_GROWSDOWN);
    if (anonymous_private && CRIB_TRY(copy_into_anonymous(vma, at, *pages))) return {};
    for (const image::PageRun& run : vma.pages) {
        auto dest = reinterpret_cast<void*>(at + (run.address - vma.start));
        // Faulting the run in as one batch first is several times faster
        // than letting the copy fault page by page.
        madvise(dest, run.length, MADV_POPULATE_WRITE);
        CRIB_TRY(pages->read(run, dest));
    }
    return {};
}

uint64_t own_status_mask(const std::string& key) {
    std::ifstream in("/proc/self/status");
    for (std::string line; std::getline(in, line);)
        if (line.starts_with(key)) return std::stoull(line.substr(key.size()), nullptr, 16);
    return 0;
}

// Credentials are set only where they differ from the restoring process's:
// then every part is set, in every thread.
Result<crib_rst_creds> creds_to_set(const image::Credentials& saved, Arena& arena) {
    crib_rst_creds out{};
    uid_t r, e, s;
    gid_t gr, ge, gs;
    getresuid(&r, &e, &s);
    getresgid(&gr, &ge, &gs);
    std::vector<gid_t> groups(getgroups(0, nullptr));
    groups.resize(getgroups(groups.size(), groups.data()));
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct caps[2]{};
    syscall(SYS_capget, &header, caps);
    auto join = [](uint32_t lo, uint32_t hi) { return uint64_t{hi} << 32 | lo; };
    image::Credentials own;
    own.uids = {r, e, s, static_cast<uint32_t>(setfsuid(-1))};
    own.gids = {gr, ge, gs, static_cast<uint32_t>(setfsgid(-1))};
    own.groups.assign(groups.begin(), groups.end());
    own.cap_effective = join(caps[0].effective, caps[1].effective);
    own.cap_permitted = join(caps[0].permitted, caps[1].permitted);
    own.cap_inheritable = join(caps[0].inheritable, caps[1].inheritable);
    own.cap_bounding = own_status_mask("CapBnd:");
    own.cap_ambient = own_status_mask("CapAmb:");
    if (own == saved) return out;
    out.set = 1;
    std::copy_n(saved.uids.begin(), 4, out.uids);
    std::copy_n(saved.gids.begin(), 4, out.gids);
    out.cap_effective = saved.cap_effective;
    out.cap_permitted = saved.cap_permitted;
    out.cap_inheritable = saved.cap_inheritable;
    out.cap_bounding = saved.cap_bounding;
    out.cap_ambient = saved.cap_ambient;
    out.ngroups = saved.groups.size();
    auto* list = arena.take<uint32_t>(saved.groups.size());
    if (!list) return make_error(ENOMEM, "restorer argument area too small for the groups");
    std::copy(saved.groups.begin(), saved.groups.end(), list);
    out.groups = reinterpret_cast<uint64_t>(list);
    return out;
}

int signal_of(const image::PendingSignal& pending) {
    int32_t signo;
    std::memcpy(&signo, pending.siginfo.data(), sizeof(signo));
    return signo;
}

}  // namespace

Result<std::vector<OwnMapping>> read_own_maps() {
    std::ifstream in("/proc/self/maps");
    if (!in) return make_error(errno, "/proc/self/maps: cannot open: {}", strerror(errno));
    std::vector<OwnMapping> out;
    std::string line;
    while (std::getline(in, line)) {
        OwnMapping m;
        std::istringstream fields(line);
        std::string range, perms, offset, dev, inode;
        fields >> range >> perms >> offset >> dev >> inode;
        std::getline(fields >> std::ws, m.name);
        auto dash = range.find('-');
        m.start = std::stoull(range.substr(0, dash), nullptr, 16);
        m.end = std::stoull(range.substr(dash + 1), nullptr, 16);
        out.push_back(std::move(m));
    }
    return out;
}

Result<std::vector<SpecialMove>> match_special_mappings(const image::Process& process,
                                                        const std::vector<OwnMapping>& own) {
    std::vector<SpecialMove> moves;
    for (const OwnMapping& m : own)
        if (is_special_name(m.name)) moves.push_back({m.name, m.start, m.end - m.start, 0});
    for (const image::Vma& vma : process.vmas) {
        if (vma.kind != image::VmaKind::Vdso && vma.kind != image::VmaKind::Vvar) continue;
        auto it = std::find_if(moves.begin(), moves.end(),
                               [&](const SpecialMove& m) { return m.name == vma.path; });
        if (it == moves.end())
            return make_error(EOPNOTSUPP,
                              "mapping {:#x}-{:#x}: the image has {} but the running kernel "
                              "gives this process none",
                              vma.start, vma.end, vma.path);
        if (it->size != vma.end - vma.start)
            return make_error(EOPNOTSUPP,
                              "mapping {:#x}-{:#x}: the image's {} is {} bytes, the running "
                              "kernel's is {}: the image comes from another kernel",
                              vma.start, vma.end, vma.path, vma.end - vma.start, it->size);
        it->final = vma.start;
    }
    return moves;
}

namespace {

// Where each part of the restorer's hole lies, in address order.
struct HoleLayout {
    uint64_t start = 0, size = 0;
    uint64_t args = 0, args_size = 0;  // after the blob
    uint64_t stacks = 0;               // the leader's, then one per thread
    uint64_t parking = 0;              // room for the vdso/vvar on their way
    uint64_t staged = 0;               // the saved mappings, back to back
};

Result<HoleLayout> reserve_hole(const image::Process& process, const std::vector<OwnMapping>& own,
                                const std::vector<SpecialMove>& specials) {
    const auto blob = restorer_blob();
    uint64_t staged_size = 0, vmas = 0, signals = process.task.shared_pending.size();
    for (const image::Vma& vma : process.vmas) {
        if (is_special(vma.kind)) continue;
        staged_size += vma.end - vma.start + kHugePage;  // and room to align it
        vmas++;
    }
    for (const image::Thread& t : process.threads) signals += t.pending.size();
    uint64_t parking_size = 0;
    for (const SpecialMove& s : specials) parking_size += s.size;

    HoleLayout hole;
    // Every array of the block, plus alignment slack for each.
    hole.args_size = page_round(
        sizeof(crib_rst_args) + 16 * 8 + sizeof(crib_rst_range) * (specials.size() + 2) +
        sizeof(crib_rst_special) * specials.size() + sizeof(crib_rst_vma) * vmas +
        sizeof(crib_rst_thread) * process.threads.size() + sizeof(crib_rst_signal) * signals +
        8 * process.task.mm.auxv.size() + 4 * process.task.creds.groups.size());
    uint64_t blob_size = page_round(blob.size());
    uint64_t stacks_size = kLeaderStack + kThreadStack * process.threads.size();
    hole.size = blob_size + hole.args_size + stacks_size + parking_size + staged_size;

    std::vector<std::pair<uint64_t, uint64_t>> busy;
    for (const OwnMapping& m : own) busy.emplace_back(m.start, m.end);
    // Keep a page of distance to the saved mappings so no staged or final
    // mapping merges with the hole.
    for (const image::Vma& v : process.vmas)
        busy.emplace_back(v.start - kPageSize, v.end + kPageSize);
    auto found = find_hole(busy, hole.size);
    if (!found)
        return make_error(ENOMEM, "no free range of {} bytes for the restorer in the saved layout",
                          hole.size);
    hole.start = *found;
    hole.args = hole.start + blob_size;
    hole.stacks = hole.args + hole.args_size;
    hole.parking = hole.stacks + stacks_size;
    hole.staged = hole.parking + parking_size;

    // Reserved inaccessible: only what the restorer itself uses is memory
    // now; each staged mapping replaces its part of the reservation.
    void* got = mmap(reinterpret_cast<void*>(hole.start), hole.size, PROT_NONE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED_NOREPLACE, -1, 0);
    if (got == MAP_FAILED)
        return make_error(errno, "cannot reserve the restorer hole {:#x}+{:#x}: {}", hole.start,
                          hole.size, strerror(errno));
    if (mprotect(got, blob_size, PROT_READ | PROT_WRITE | PROT_EXEC) ||
        mprotect(reinterpret_cast<void*>(hole.args), hole.args_size + stacks_size,
                 PROT_READ | PROT_WRITE))
        return make_error(errno, "cannot make the restorer's part of the hole usable: {}",
                          strerror(errno));
    std::memcpy(got, blob.data(), blob.size());
    return hole;
}

// What the restorer unmaps (everything but the hole and the kernel's
// special mappings) and how the special ones travel.
void describe_unmapping(crib_rst_args& args, Arena& arena, const HoleLayout& hole,
                        const std::vector<SpecialMove>& specials) {
    std::vector<std::pair<uint64_t, uint64_t>> keep{{hole.start, hole.start + hole.size}};
    for (const SpecialMove& s : specials) keep.emplace_back(s.current, s.current + s.size);
    std::sort(keep.begin(), keep.end());
    auto* unmap = arena.take<crib_rst_range>(keep.size() + 1);
    uint64_t cursor = 0;
    for (const auto& [start, end] : keep) {
        if (start > cursor) unmap[args.nr_unmap++] = {cursor, start};
        cursor = end;
    }
    unmap[args.nr_unmap++] = {cursor, kUserTop};
    args.unmap = reinterpret_cast<uint64_t>(unmap);

    auto* special = arena.take<crib_rst_special>(specials.size());
    uint64_t park = hole.parking;
    for (const SpecialMove& s : specials) {
        special[args.nr_specials++] = {s.current, park, s.final, s.size};
        park += s.size;
    }
    args.specials = reinterpret_cast<uint64_t>(special);
}

Result<void> stage_vmas(crib_rst_args& args, Arena& arena, const image::Process& process,
                        const HoleLayout& hole, const std::string& pages_dir) {
    std::optional<image::PagesReader> pages;
    size_t count = std::count_if(process.vmas.begin(), process.vmas.end(),
                                 [](const image::Vma& v) { return !is_special(v.kind); });
    auto* vmas = arena.take<crib_rst_vma>(count);
    uint64_t at = hole.staged;
    for (const image::Vma& vma : process.vmas) {
        if (is_special(vma.kind)) continue;
        at = congruent_from(at, vma.start);
        if (!vma.pages.empty() && !pages)
            pages.emplace(CRIB_TRY(image::PagesReader::open(pages_dir)));
        CRIB_TRY(stage_vma(vma, at, pages ? &*pages : nullptr));
        vmas[args.nr_vmas++] = {at, vma.start, vma.end - vma.start, vma.prot, 0};
        at += vma.end - vma.start;
    }
    args.vmas = reinterpret_cast<uint64_t>(vmas);
    return {};
}

void describe_signals_and_timers(crib_rst_args& args, Arena& arena, const image::Process& process) {
    const image::Task& task = process.task;
    for (size_t i = 0; i < image::kSignalCount; i++) {
        const image::SigAction& sa = task.sigactions[i];
        args.sigactions[i] = {sa.handler, sa.flags, sa.restorer, sa.mask};
    }
    for (size_t i = 0; i < task.itimers.size(); i++) {
        const image::Itimer& t = task.itimers[i];
        // A periodic timer that fired while the process was frozen reads 0
        // left: the kernel rearms it when the pending SIGALRM is taken. Set
        // to 0 here it would stay disarmed, so it gets a full period (the
        // saved signal is queued again as well).
        uint64_t value = t.value_us ? t.value_us : t.interval_us;
        uint64_t v[4] = {t.interval_us / 1000000, t.interval_us % 1000000, value / 1000000,
                         value % 1000000};
        std::copy_n(v, 4, args.itimers[i]);
    }

    size_t count = task.shared_pending.size();
    for (const image::Thread& t : process.threads) count += t.pending.size();
    auto* sigs = arena.take<crib_rst_signal>(count);
    auto queue = [&](int32_t tid, const image::PendingSignal& p) {
        // Neither can wait behind a mask: queued, SIGKILL would end the
        // restore and SIGSTOP stop it halfway. They were not delivered yet
        // at the dump; they are dropped.
        if (signal_of(p) == SIGKILL || signal_of(p) == SIGSTOP) return;
        crib_rst_signal& s = sigs[args.nr_signals++];
        s.tid = tid;
        s.signo = signal_of(p);
        std::memcpy(s.siginfo, p.siginfo.data(), sizeof(s.siginfo));
    };
    for (const image::PendingSignal& p : task.shared_pending) queue(0, p);
    for (const image::Thread& t : process.threads)
        for (const image::PendingSignal& p : t.pending) queue(t.tid, p);
    args.signals = reinterpret_cast<uint64_t>(sigs);
}

void describe_threads(crib_rst_args& args, Arena& arena, const image::Process& process,
                      const HoleLayout& hole) {
    auto* threads = arena.take<crib_rst_thread>(process.threads.size());
    uint64_t stack_top = hole.stacks + kLeaderStack;
    for (const image::Thread& t : process.threads) {
        crib_rst_thread& out = threads[args.nr_threads++];
        out = crib_rst_thread{};
        out.tid = t.tid;
        out.stack_top = stack_top;  // unused by the leader, which runs on the first stack
        stack_top += kThreadStack;
        out.clear_child_tid = t.clear_child_tid;
        out.altstack_sp = t.altstack.sp;
        out.altstack_size = t.altstack.size;
        out.altstack_flags = t.altstack.flags;
        out.rseq_address = t.rseq.address;
        out.rseq_length = t.rseq.length;
        out.rseq_flags = t.rseq.flags;
        out.rseq_signature = t.rseq.signature;
    }
    args.threads = reinterpret_cast<uint64_t>(threads);
}

void describe_mm(crib_rst_args& args, Arena& arena, const image::MmLayout& mm, int exe_fd) {
    // A hand-made image without an mm layout keeps the child's fields.
    args.set_mm = mm.start_code != 0;
    args.mm = {mm.start_code,
               mm.end_code,
               mm.start_data,
               mm.end_data,
               mm.start_brk,
               mm.brk,
               mm.start_stack,
               mm.arg_start,
               mm.arg_end,
               mm.env_start,
               mm.env_end,
               0,
               0,
               exe_fd};
    if (mm.auxv.empty()) return;
    auto* auxv = arena.take<uint64_t>(mm.auxv.size());
    std::copy(mm.auxv.begin(), mm.auxv.end(), auxv);
    args.mm.auxv = reinterpret_cast<uint64_t>(auxv);
    args.mm.auxv_size = mm.auxv.size() * sizeof(uint64_t);
}

}  // namespace

Result<StagedRestorer> stage_address_space(const image::Process& process,
                                           const std::string& pages_dir, const StageFds& fds) {
    auto own = CRIB_TRY(read_own_maps());
    auto specials = CRIB_TRY(match_special_mappings(process, own));
    HoleLayout hole = CRIB_TRY(reserve_hole(process, own, specials));

    Arena arena(hole.args, hole.args_size);
    auto* args = arena.take<crib_rst_args>(1);
    *args = crib_rst_args{};
    args->magic = CRIB_RST_MAGIC;
    args->hole_start = hole.start;
    args->hole_end = hole.start + hole.size;
    args->close_fd = fds.close_fd;
    describe_unmapping(*args, arena, hole, specials);
    CRIB_TRY(stage_vmas(*args, arena, process, hole, pages_dir));
    describe_signals_and_timers(*args, arena, process);
    describe_threads(*args, arena, process, hole);
    args->creds = CRIB_TRY(creds_to_set(process.task.creds, arena));
    describe_mm(*args, arena, process.task.mm, fds.exe_fd);

    StagedRestorer out;
    out.hole_start = hole.start;
    out.hole_end = hole.start + hole.size;
    out.entry = hole.start + CRIB_RST_ENTRY_OFFSET;
    out.stack = hole.stacks + kLeaderStack - 8;  // as if called: the ABI's alignment
    out.args = reinterpret_cast<uint64_t>(args);
    return out;
}

}  // namespace crib::restore
