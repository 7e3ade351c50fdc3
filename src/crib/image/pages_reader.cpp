#include "crib/image/pages_reader.hpp"

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

// Read granule: big enough for few syscalls, small enough to hash while still
// in the CPU cache.
constexpr uint64_t kChunk = 8 << 20;

// pread until done: it may stop short on large requests.
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

}  // namespace

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
    PagesHeader header{};
    CRIB_TRY(read_all(reader.m_fd, reader.m_path, &header, sizeof header, 0));
    if (std::memcmp(header.magic, kPagesMagic, sizeof kPagesMagic) != 0)
        return make_error(EBADMSG, "{}: offset 0x0: bad magic, not a crib pages image",
                          reader.m_path);
    if (header.version != kPagesVersion || header.page_size != kPageSize)
        return make_error(EBADMSG, "{}: version {} page size {}, this crib reads version {} of {}",
                          reader.m_path, header.version, header.page_size, kPagesVersion,
                          kPageSize);
    return reader;
}

PagesReader::PagesReader(PagesReader&& other) noexcept
    : m_path(std::move(other.m_path)),
      m_fd(std::exchange(other.m_fd, -1)),
      m_size(other.m_size),
      m_map(std::exchange(other.m_map, nullptr)) {}

PagesReader& PagesReader::operator=(PagesReader&& other) noexcept {
    if (this != &other) {
        release();
        m_path = std::move(other.m_path);
        m_fd = std::exchange(other.m_fd, -1);
        m_size = other.m_size;
        m_map = std::exchange(other.m_map, nullptr);
    }
    return *this;
}

PagesReader::~PagesReader() {
    release();
}

void PagesReader::release() {
    if (m_fd >= 0) ::close(m_fd);
    if (m_map) munmap(const_cast<uint8_t*>(m_map), m_size);
    m_fd = -1;
    m_map = nullptr;
}

Result<const uint8_t*> PagesReader::mapped() const {
    if (m_map) return m_map;
    void* map = mmap(nullptr, m_size, PROT_READ, MAP_SHARED, m_fd, 0);
    if (map == MAP_FAILED)
        return make_error(errno, "{}: cannot map its {} bytes: {}", m_path, m_size,
                          std::strerror(errno));
    madvise(map, m_size, MADV_SEQUENTIAL);
    m_map = static_cast<const uint8_t*>(map);
    return m_map;
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

Result<void> PagesReader::check_sum(const PageRun& run, uint64_t hash) const {
    if (hash != run.checksum)
        return make_error(EBADMSG,
                          "{}: offset {:#x}: checksum mismatch for the {:#x}-byte run of address "
                          "{:#x} (stored {:#018x}, read {:#018x})",
                          m_path, run.file_offset, run.length, run.address, run.checksum, hash);
    return {};
}

// In kChunk pieces, each hashed while it is still in cache.
Result<void> PagesReader::read(const PageRun& run, void* dest) const {
    CRIB_TRY(check_bounds(run));
    XXH3_state_t state;
    XXH3_64bits_reset(&state);
    auto* out = static_cast<uint8_t*>(dest);
    for (uint64_t done = 0; done < run.length; done += kChunk) {
        const uint64_t n = std::min(kChunk, run.length - done);
        CRIB_TRY(read_all(m_fd, m_path, out + done, n, run.file_offset + done));
        XXH3_64bits_update(&state, out + done, n);
    }
    return check_sum(run, XXH3_64bits_digest(&state));
}

Result<void> PagesReader::check_layout(const std::vector<Vma>& vmas) const {
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
    return {};
}

// Hashing the page cache where it is mapped costs about half of copying it
// out first with pread and hashing the copy.
Result<void> PagesReader::read_mapped(const PageRun& run, const PieceSink& sink) const {
    CRIB_TRY(check_bounds(run));
    const uint8_t* file = CRIB_TRY(mapped()) + run.file_offset;
    XXH3_state_t state;
    XXH3_64bits_reset(&state);
    for (uint64_t done = 0; done < run.length; done += kChunk) {
        const uint64_t n = std::min(kChunk, run.length - done);
        CRIB_TRY(sink(done, file + done, n));
        XXH3_64bits_update(&state, file + done, n);
    }
    return check_sum(run, XXH3_64bits_digest(&state));
}

// Hashed where mapped, as read_mapped does.
Result<void> PagesReader::verify(const std::vector<Vma>& vmas) const {
    CRIB_TRY(check_layout(vmas));
    const uint8_t* file = CRIB_TRY(mapped());
    for (const Vma& vma : vmas)
        for (const PageRun& run : vma.pages)
            CRIB_TRY(check_sum(run, page_checksum(file + run.file_offset, run.length)));
    return {};
}

}  // namespace crib::image
