#include "crib/image/pages_writer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
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

}  // namespace

Result<PagesWriter> PagesWriter::create(const std::string& dir, WriteMode mode) {
    std::string path = pages_path(dir);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return make_error(errno, "{}: create: {}", path, std::strerror(errno));
    // tmpfs and some FUSE file systems refuse O_DIRECT; they get buffered writes.
    const int direct_fd =
        mode == WriteMode::Direct ? ::open(path.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC) : -1;
    PagesWriter writer(std::move(path), fd, direct_fd);
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
      m_fd(std::exchange(other.m_fd, -1)),
      m_direct_fd(std::exchange(other.m_direct_fd, -1)),
      m_end(other.m_end) {}

PagesWriter& PagesWriter::operator=(PagesWriter&& other) noexcept {
    if (this != &other) {
        release();
        m_path = std::move(other.m_path);
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
