#include "crib/proc/memory_scan.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <string>
#include <utility>

namespace crib::proc {

namespace {

// PAGEMAP_SCAN (Linux 6.7), not yet in Debian 12's kernel headers. It walks
// only the populated parts of the page tables and returns ranges, where
// reading /proc/PID/pagemap costs 8 bytes per page even for a terabyte of
// untouched reservation.
struct PageRegion {
    uint64_t start, end, categories;
};
struct ScanArg {
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages;
    uint64_t category_inverted, category_mask, category_anyof_mask, return_mask;
};
constexpr unsigned long kPagemapScan = _IOWR('f', 16, ScanArg);
constexpr uint64_t kIsFile = 1 << 2;  // file page or shared anonymous (not PageAnon)
constexpr uint64_t kIsPresent = 1 << 3;
constexpr uint64_t kIsSwapped = 1 << 4;
constexpr uint64_t kIsPfnZero = 1 << 5;  // maps the shared zero page: reads as zeros

// How a Vma's pages are chosen: from its page tables (pages whose
// categories, flipped by `inverted`, have all of `mask` and any of `anyof`),
// from the shared object behind it, or not at all.
struct Pick {
    enum Source : uint8_t { Nothing, PageTables, SharedObject } source;
    uint64_t inverted = 0, mask = 0, anyof = 0;
};

constexpr Pick kNothing{Pick::Nothing};
// Present or swapped, except the zero page.
constexpr Pick kPopulated{Pick::PageTables, kIsPfnZero, kIsPfnZero, kIsPresent | kIsSwapped};
// kPopulated and anonymous: the pages a private file mapping changed.
constexpr Pick kPrivateCopies{Pick::PageTables, kIsFile | kIsPfnZero, kIsFile | kIsPfnZero,
                              kIsPresent | kIsSwapped};
// Every page the shared object holds (shared anonymous memory).
constexpr Pick kSharedObject{Pick::SharedObject};

struct Rule {
    image::VmaKind kind;
    Pick private_pick;
    Pick shared_pick;
};

constexpr std::array kRules{
    Rule{image::VmaKind::Anon, kPopulated, kSharedObject},
    Rule{image::VmaKind::File, kPrivateCopies, kNothing},
    Rule{image::VmaKind::Heap, kPopulated, kSharedObject},
    Rule{image::VmaKind::Stack, kPopulated, kSharedObject},
    Rule{image::VmaKind::Vdso, kNothing, kNothing},
    Rule{image::VmaKind::Vvar, kNothing, kNothing},
    Rule{image::VmaKind::Vsyscall, kNothing, kNothing},
};

Pick pick_for(const image::Vma& vma) {
    const bool shared = (vma.flags & MAP_SHARED) != 0;
    for (const Rule& rule : kRules)
        if (rule.kind == vma.kind) return shared ? rule.shared_pick : rule.private_pick;
    return kNothing;
}

void add_range(std::vector<PageRange>& ranges, uint64_t start, uint64_t end) {
    if (!ranges.empty() && ranges.back().end == start)
        ranges.back().end = end;
    else
        ranges.push_back({start, end});
}

}  // namespace

Result<PageSelector> PageSelector::open(pid_t pid) {
    const std::string path = "/proc/" + std::to_string(pid) + "/pagemap";
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return make_error(errno, "pid {}: open {}: {}", pid, path, std::strerror(errno));
    return PageSelector(pid, fd);
}

PageSelector::PageSelector(PageSelector&& other) noexcept
    : m_pid(other.m_pid), m_pagemap(std::exchange(other.m_pagemap, -1)) {}

PageSelector::~PageSelector() {
    if (m_pagemap >= 0) ::close(m_pagemap);
}

Result<std::vector<PageRange>> PageSelector::select(const image::Vma& vma) {
    const Pick pick = pick_for(vma);
    if (pick.source == Pick::PageTables) return scan(vma, pick.inverted, pick.mask, pick.anyof);
    if (pick.source == Pick::SharedObject) return shared_object(vma);
    return std::vector<PageRange>{};
}

Result<std::vector<PageRange>> PageSelector::scan(const image::Vma& vma, uint64_t inverted,
                                                  uint64_t mask, uint64_t anyof) {
    std::vector<PageRange> ranges;
    std::array<PageRegion, 512> regions;
    uint64_t start = vma.start;
    while (start < vma.end) {
        ScanArg arg{};
        arg.size = sizeof arg;
        arg.start = start;
        arg.end = vma.end;
        arg.vec = reinterpret_cast<uint64_t>(regions.data());
        arg.vec_len = regions.size();
        arg.category_inverted = inverted;
        arg.category_mask = mask;
        arg.category_anyof_mask = anyof;
        arg.return_mask = kIsPresent | kIsSwapped;
        const int n = ioctl(m_pagemap, kPagemapScan, &arg);
        if (n < 0) {
            const int error = errno;
            if (error == ENOTTY)
                return make_error(error,
                                  "pid {}: PAGEMAP_SCAN of {:#x}-{:#x} refused ({}): crib needs "
                                  "Linux 6.7 or later to choose pages",
                                  m_pid, vma.start, vma.end, std::strerror(error));
            return make_error(error, "pid {}: PAGEMAP_SCAN of {:#x}-{:#x}: {}", m_pid, vma.start,
                              vma.end, std::strerror(error));
        }
        for (int i = 0; i < n; ++i) add_range(ranges, regions[i].start, regions[i].end);
        if (arg.walk_end <= start)
            return make_error(EIO, "pid {}: PAGEMAP_SCAN made no progress at {:#x}", m_pid, start);
        start = arg.walk_end;
    }
    return ranges;
}

// Shared anonymous memory lives in a shmem object that other processes may
// have filled: pages this process never faulted in have no page-table entry
// here (fork does not copy them), so the object itself is asked which pages
// it holds, through /proc/PID/map_files and SEEK_DATA/SEEK_HOLE.
Result<std::vector<PageRange>> PageSelector::shared_object(const image::Vma& vma) {
    const std::string path = fmt::format("/proc/{}/map_files/{:x}-{:x}", m_pid, vma.start, vma.end);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return make_error(errno, "pid {}: open {} (shared memory at {:#x}): {}", m_pid, path,
                          vma.start, std::strerror(errno));
    std::vector<PageRange> ranges;
    const uint64_t first = vma.pgoff, last = vma.pgoff + (vma.end - vma.start);
    uint64_t offset = first;
    int error = 0;
    while (offset < last) {
        const off_t data = lseek(fd, static_cast<off_t>(offset), SEEK_DATA);
        if (data < 0) {
            if (errno != ENXIO) error = errno;  // ENXIO: no data after OFFSET
            break;
        }
        if (static_cast<uint64_t>(data) >= last) break;
        off_t hole = lseek(fd, data, SEEK_HOLE);
        if (hole < 0) {
            error = errno;
            break;
        }
        const uint64_t begin = static_cast<uint64_t>(data) & ~(image::kPageSize - 1);
        const uint64_t end = std::min<uint64_t>(
            (static_cast<uint64_t>(hole) + image::kPageSize - 1) & ~(image::kPageSize - 1), last);
        add_range(ranges, vma.start + (begin - first), vma.start + (end - first));
        offset = end;
    }
    ::close(fd);
    if (error != 0)
        return make_error(error, "pid {}: {}: seeking data at offset {:#x}: {}", m_pid, path,
                          offset, std::strerror(error));
    return ranges;
}

}  // namespace crib::proc
