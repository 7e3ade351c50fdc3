#include "crib/image/pages.hpp"

// XXH3_state_t on the stack: its size comes from the header compiled against.
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

namespace crib::image {

namespace {

constexpr char kMagic[8] = {'C', 'R', 'I', 'B', 'P', 'A', 'G', 'E'};
constexpr uint64_t kChunk = 8 << 20;  // read granule: big enough for few syscalls, small
                                      // enough to hash while still in cache

// Writes from this size up skip the page cache: the copy into it costs a CPU
// the reading stage wants, while the device moves the bytes by itself. A
// smaller write waits on the device for less than that copy would cost.
constexpr uint64_t kDirectMinBytes = 2 << 20;

struct Header {
    char magic[8];
    uint32_t version;
    uint32_t page_size;
};

std::string pages_path(const std::string& dir) {
    return dir + "/" + kPagesFileName;
}

// pwrite/pread until done: both may stop short on large requests.
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

Result<void> read_all(int fd, const std::string& path, void* data, uint64_t length,
                      uint64_t offset) {
    auto* bytes = static_cast<uint8_t*>(data);
    while (length > 0) {
        const ssize_t n = pread(fd, bytes, length, static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0)
            return make_error(errno, "{}: read of {} bytes at offset {:#x}: {}", path, length,
                              offset, std::strerror(errno));
        if (n == 0)
            return make_error(EIO, "{}: file ends at offset {:#x}: truncated", path, offset);
        bytes += n, length -= n, offset += n;
    }
    return {};
}

bool page_aligned(uint64_t value) {
    return value % kPageSize == 0;
}

}  // namespace

uint64_t page_checksum(const void* data, uint64_t length) {
    return XXH3_64bits(data, length);
}

// ---------------------------------------------------------------- writer

Result<PagesWriter> PagesWriter::create(const std::string& dir, WriteMode mode) {
    std::string path = pages_path(dir);
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) return make_error(errno, "{}: create: {}", path, std::strerror(errno));
    // tmpfs and some FUSE file systems refuse O_DIRECT; they get buffered writes.
    const int direct_fd =
        mode == WriteMode::Direct ? ::open(path.c_str(), O_WRONLY | O_DIRECT | O_CLOEXEC) : -1;
    PagesWriter writer(std::move(path), fd, direct_fd);
    Header header{};
    std::memcpy(header.magic, kMagic, sizeof kMagic);
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

// ---------------------------------------------------------------- reader

Result<PagesReader> PagesReader::open(const std::string& dir) {
    std::string path = pages_path(dir);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return make_error(errno, "{}: open: {}", path, std::strerror(errno));
    struct stat st {};
    if (fstat(fd, &st) != 0) {
        const int error = errno;
        ::close(fd);
        return make_error(error, "{}: stat: {}", path, std::strerror(error));
    }
    PagesReader reader(std::move(path), fd, static_cast<uint64_t>(st.st_size));
    if (reader.m_size < kPagesDataOffset)
        return make_error(EBADMSG, "{}: {} bytes, shorter than its {}-byte header", reader.m_path,
                          reader.m_size, kPagesDataOffset);
    Header header{};
    CRIB_TRY(read_all(reader.m_fd, reader.m_path, &header, sizeof header, 0));
    if (std::memcmp(header.magic, kMagic, sizeof kMagic) != 0)
        return make_error(EBADMSG, "{}: offset 0x0: bad magic, not a crib pages image",
                          reader.m_path);
    if (header.version != kPagesVersion || header.page_size != kPageSize)
        return make_error(EBADMSG, "{}: version {} page size {}, this crib reads version {} of {}",
                          reader.m_path, header.version, header.page_size, kPagesVersion,
                          kPageSize);
    return reader;
}

PagesReader::PagesReader(PagesReader&& other) noexcept
    : m_path(std::move(other.m_path)), m_fd(std::exchange(other.m_fd, -1)), m_size(other.m_size) {}

PagesReader& PagesReader::operator=(PagesReader&& other) noexcept {
    if (this != &other) {
        if (m_fd >= 0) ::close(m_fd);
        m_path = std::move(other.m_path);
        m_fd = std::exchange(other.m_fd, -1);
        m_size = other.m_size;
    }
    return *this;
}

PagesReader::~PagesReader() {
    if (m_fd >= 0) ::close(m_fd);
}

Result<void> PagesReader::check_bounds(const PageRun& run) const {
    if (!page_aligned(run.file_offset) || !page_aligned(run.length) || !page_aligned(run.address) ||
        run.length == 0 || run.file_offset < kPagesDataOffset)
        return make_error(EBADMSG,
                          "{}: offset {:#x}: run of {:#x} bytes for address {:#x} is not whole "
                          "pages in the data area",
                          m_path, run.file_offset, run.length, run.address);
    if (run.file_offset > m_size || run.length > m_size - run.file_offset)
        return make_error(EBADMSG,
                          "{}: offset {:#x}: run of {:#x} bytes for address {:#x} ends past the "
                          "end of the file ({:#x} bytes): truncated",
                          m_path, run.file_offset, run.length, run.address, m_size);
    return {};
}

// Reads RUN in kChunk pieces and checks its checksum, hashing each piece
// while it is in cache. The pieces land one after another in DEST, or, with
// SCRATCH, all at DEST (a kChunk buffer) when only the check matters.
Result<void> PagesReader::read_checked(const PageRun& run, void* dest, bool scratch) const {
    XXH3_state_t state;
    XXH3_64bits_reset(&state);
    auto* out = static_cast<uint8_t*>(dest);
    for (uint64_t done = 0; done < run.length; done += kChunk) {
        const uint64_t n = std::min(kChunk, run.length - done);
        uint8_t* piece = scratch ? out : out + done;
        CRIB_TRY(read_all(m_fd, m_path, piece, n, run.file_offset + done));
        XXH3_64bits_update(&state, piece, n);
    }
    const uint64_t hash = XXH3_64bits_digest(&state);
    if (hash != run.checksum)
        return make_error(EBADMSG,
                          "{}: offset {:#x}: checksum mismatch for the {:#x}-byte run of address "
                          "{:#x} (stored {:#018x}, read {:#018x})",
                          m_path, run.file_offset, run.length, run.address, run.checksum, hash);
    return {};
}

Result<void> PagesReader::read(const PageRun& run, void* dest) const {
    CRIB_TRY(check_bounds(run));
    return read_checked(run, dest, false);
}

Result<void> PagesReader::verify(const std::vector<Vma>& vmas) const {
    std::vector<const PageRun*> runs;
    for (const Vma& vma : vmas) {
        for (const PageRun& run : vma.pages) {
            CRIB_TRY(check_bounds(run));
            if (run.address < vma.start || run.address + run.length > vma.end)
                return make_error(EBADMSG,
                                  "{}: offset {:#x}: run {:#x}-{:#x} lies outside its vma "
                                  "{:#x}-{:#x}",
                                  m_path, run.file_offset, run.address, run.address + run.length,
                                  vma.start, vma.end);
            runs.push_back(&run);
        }
    }
    std::sort(runs.begin(), runs.end(),
              [](const PageRun* a, const PageRun* b) { return a->file_offset < b->file_offset; });
    for (size_t i = 1; i < runs.size(); ++i) {
        if (runs[i - 1]->file_offset + runs[i - 1]->length > runs[i]->file_offset)
            return make_error(EBADMSG,
                              "{}: offset {:#x}: runs of addresses {:#x} and {:#x} overlap", m_path,
                              runs[i]->file_offset, runs[i - 1]->address, runs[i]->address);
    }
    void* buffer =
        mmap(nullptr, kChunk, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (buffer == MAP_FAILED)
        return make_error(errno, "{}: verify buffer: {}", m_path, std::strerror(errno));
    Result<void> result;
    for (const PageRun* run : runs) {
        result = read_checked(*run, buffer, true);
        if (!result) break;
    }
    munmap(buffer, kChunk);
    return result;
}

}  // namespace crib::image
