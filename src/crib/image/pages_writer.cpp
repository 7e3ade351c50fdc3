#include "crib/image/pages_writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <utility>

namespace crib::image {

namespace {

// Writes from this size up skip the page cache: the copy into it costs a CPU
// the reading stage wants, while the device moves the bytes by itself. A
// smaller write waits on the device for less than that copy would cost.
constexpr uint64_t kDirectMinBytes = 2 << 20;

// pwrite until done: it may stop short on large requests.
Result<void> write_all(int fd, const std::string& path, const void* data, uint64_t length,
                       uint64_t offset) {
    const auto* bytes = static_cast<const uint8_t*>(data);
    while (length > 0) {
        const ssize_t n = pwrite(fd, bytes, length, static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            return make_error(n < 0 ? errno : EIO, "{}: write of {} bytes at offset {:#x}: {}",
                              path, length, offset, n < 0 ? std::strerror(errno) : "no progress");
        bytes += n, length -= n, offset += n;
    }
    return {};
}

constexpr std::pair<WriteMode, std::string_view> kModeNames[] = {
    {WriteMode::Direct, "direct"},
    {WriteMode::Cached, "cached"},
    {WriteMode::Auto, "auto"},
};

// The number in FILE after the word KEY, or FILE's first word when KEY is empty.
Result<uint64_t> read_number(const std::string& file, std::string_view key = {}) {
    std::ifstream in(file);
    std::string word;
    while (!key.empty() && word != key && in >> word) continue;
    uint64_t value = 0;
    if (in >> value) return value;
    return make_error(ENOENT, "{}: no number{}{}", file, key.empty() ? "" : " after ", key);
}

}  // namespace

std::string_view write_mode_name(WriteMode mode) {
    for (const auto& [row_mode, name] : kModeNames)
        if (row_mode == mode) return name;
    return "?";
}

std::optional<WriteMode> write_mode_from_name(std::string_view name) {
    for (const auto& [mode, row_name] : kModeNames)
        if (row_name == name) return mode;
    return std::nullopt;
}

Result<DirtyBudget> read_dirty_budget() {
    constexpr const char* kMeminfo = "/proc/meminfo";
    constexpr uint64_t kKiB = 1024;
    DirtyBudget budget;
    budget.available = CRIB_TRY(read_number(kMeminfo, "MemAvailable:")) * kKiB;
    budget.dirty = (CRIB_TRY(read_number(kMeminfo, "Dirty:")) +
                    CRIB_TRY(read_number(kMeminfo, "Writeback:"))) *
                   kKiB;
    // The kernel takes its ratios of the memory it could use for the page
    // cache (free plus reclaimable file pages): MemAvailable is near that.
    // A *_bytes setting, when not zero, replaces its ratio.
    const auto threshold = [&](const char* bytes_file, const char* ratio_file) -> Result<uint64_t> {
        if (const uint64_t bytes = CRIB_TRY(read_number(bytes_file)); bytes != 0) return bytes;
        return budget.available / 100 * CRIB_TRY(read_number(ratio_file));
    };
    budget.background = CRIB_TRY(
        threshold("/proc/sys/vm/dirty_background_bytes", "/proc/sys/vm/dirty_background_ratio"));
    budget.limit = CRIB_TRY(threshold("/proc/sys/vm/dirty_bytes", "/proc/sys/vm/dirty_ratio"));
    return budget;
}

// Below the background threshold the flusher leaves dirty pages be until
// they expire, so a cached write costs the copy into the page cache and
// nothing waits for the device; past (background + limit) / 2 the kernel
// holds each writer back to the device's pace, and the copy is pure loss.
// Cached, then, only when the image fits in half of the room left under the
// background threshold: the other half stays for the rest of the image and
// for the system's other writers.
WriteMode choose_write_mode(WriteMode mode, uint64_t bytes, const DirtyBudget& budget) {
    if (mode != WriteMode::Auto) return mode;
    const uint64_t room = budget.background - std::min(budget.dirty, budget.background);
    return bytes <= room / 2 ? WriteMode::Cached : WriteMode::Direct;
}

Result<PagesWriter> PagesWriter::create(const std::string& dir, WriteMode mode, uint64_t bytes) {
    if (mode == WriteMode::Auto) {
        auto budget = read_dirty_budget();
        mode = budget ? choose_write_mode(mode, bytes, *budget) : WriteMode::Direct;
    }
    std::string path = pages_path(dir);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return make_error(errno, "{}: create: {}", path, std::strerror(errno));
    // tmpfs and some FUSE file systems refuse O_DIRECT; they get buffered writes.
    const int direct_fd =
        mode == WriteMode::Direct ? ::open(path.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC) : -1;
    PagesWriter writer(std::move(path), mode, fd, direct_fd);
    PagesHeader header{};
    std::memcpy(header.magic, kPagesMagic, sizeof kPagesMagic);
    header.version = kPagesVersion;
    header.page_size = kPageSize;
    uint8_t page[kPagesDataOffset] = {};
    std::memcpy(page, &header, sizeof header);
    CRIB_TRY(write_all(writer.m_fd, writer.m_path, page, sizeof page, 0));
    return writer;
}

PagesWriter::PagesWriter(PagesWriter&& other) noexcept
    : m_path(std::move(other.m_path)),
      m_mode(other.m_mode),
      m_fd(std::exchange(other.m_fd, -1)),
      m_direct_fd(std::exchange(other.m_direct_fd, -1)),
      m_end(other.m_end) {}

PagesWriter& PagesWriter::operator=(PagesWriter&& other) noexcept {
    if (this != &other) {
        release();
        m_path = std::move(other.m_path);
        m_mode = other.m_mode;
        m_fd = std::exchange(other.m_fd, -1);
        m_direct_fd = std::exchange(other.m_direct_fd, -1);
        m_end = other.m_end;
    }
    return *this;
}

PagesWriter::~PagesWriter() {
    release();
}

void PagesWriter::release() {
    if (m_fd < 0) return;
    ::close(m_fd);
    if (m_direct_fd >= 0) ::close(m_direct_fd);
    ::unlink(m_path.c_str());
    m_fd = m_direct_fd = -1;
}

uint64_t PagesWriter::reserve(uint64_t length) {
    const uint64_t offset = m_end;
    m_end += length;
    return offset;
}

Result<void> PagesWriter::allocate() {
    if (m_end == kPagesDataOffset) return {};
    // fallocate(2), not posix_fallocate: where the file system cannot
    // preallocate, the latter writes zeros over the whole range.
    if (fallocate(m_fd, 0, 0, static_cast<off_t>(m_end)) == 0 || errno == EOPNOTSUPP) return {};
    return make_error(errno, "{}: allocating {} bytes: {}", m_path, m_end, std::strerror(errno));
}

Result<void> PagesWriter::write(uint64_t offset, const void* data, uint64_t length) {
    if (!page_aligned(offset) || !page_aligned(length) || offset < kPagesDataOffset)
        return make_error(EINVAL, "{}: write of {} bytes at offset {:#x}: not whole pages", m_path,
                          length, offset);
    const bool direct = m_direct_fd >= 0 && length >= kDirectMinBytes &&
                        page_aligned(reinterpret_cast<uintptr_t>(data));
    return write_all(direct ? m_direct_fd : m_fd, m_path, data, length, offset);
}

Result<PageRun> PagesWriter::append(uint64_t address, const void* data, uint64_t length) {
    PageRun run{address, length, reserve(length), page_checksum(data, length)};
    CRIB_TRY(write(run.file_offset, data, length));
    return run;
}

Result<void> PagesWriter::finish() {
    if (m_fd < 0) return make_error(EBADF, "{}: finished twice", m_path);
    // The file ends at the last reserved byte even if the caller reserved
    // room it never wrote (the reader refuses runs past the end, not holes).
    const int fd = std::exchange(m_fd, -1);
    const int direct_fd = std::exchange(m_direct_fd, -1);
    const bool sized = ftruncate(fd, static_cast<off_t>(m_end)) == 0;
    const int error = errno;
    if (direct_fd >= 0) ::close(direct_fd);
    const bool closed = ::close(fd) == 0;
    if (!sized || !closed) {
        ::unlink(m_path.c_str());
        return make_error(sized ? errno : error, "{}: close at {} bytes: {}", m_path, m_end,
                          std::strerror(sized ? errno : error));
    }
    return {};
}

}  // namespace crib::image
