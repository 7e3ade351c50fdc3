// pages.img: the saved memory contents of a process. One header page
// (magic, version, page size), then page runs back to back, each starting on
// a page boundary so the file can be written with O_DIRECT and mapped or read
// straight into place on restore. Which bytes belong to which address is kept
// in the Vmas' PageRun lists (address, length, file_offset, XXH3-64 checksum);
// pages.img itself holds nothing but the header and the bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "crib/image/model.hpp"

namespace crib::image {

inline constexpr const char* kPagesFileName = "pages.img";
inline constexpr uint32_t kPagesVersion = 1;
inline constexpr uint64_t kPagesDataOffset = kPageSize;  // the header takes the first page

// XXH3-64 of bytes, the PageRun checksum.
uint64_t page_checksum(const void* data, uint64_t length);

// How pages.img reaches the disk.
enum class WriteMode : uint8_t {
    // Large page-aligned writes with O_DIRECT (where the file system allows
    // it): the device copies from the caller's buffer, no CPU copies into the
    // page cache, and dumping a big process does not push the page cache
    // out. A restore soon after reads from the device, though.
    Direct,
    // Everything through the page cache: a copy more per byte written, and a
    // restore soon after reads from memory.
    Cached,
};

// Writes DIR/pages.img. reserve() hands out file offsets in order; write()
// fills them, possibly on another thread than the one reserving (one writer
// thread at a time). A writer destroyed before finish() removes its file, so
// a failed dump leaves no pages.img that looks complete.
class PagesWriter {
public:
    static Result<PagesWriter> create(const std::string& dir, WriteMode mode = WriteMode::Direct);

    PagesWriter(PagesWriter&& other) noexcept;
    PagesWriter& operator=(PagesWriter&& other) noexcept;
    PagesWriter(const PagesWriter&) = delete;
    PagesWriter& operator=(const PagesWriter&) = delete;
    ~PagesWriter();

    // Room for LENGTH bytes (a multiple of kPageSize) at the end of the file.
    uint64_t reserve(uint64_t length);
    // Stores LENGTH bytes at OFFSET, a range reserve() handed out.
    Result<void> write(uint64_t offset, const void* data, uint64_t length);
    // reserve + checksum + write: for callers holding a whole run in memory.
    Result<PageRun> append(uint64_t address, const void* data, uint64_t length);
    // Closes the file and keeps it. Not synced to disk: that is the caller's
    // choice (syncfs) when the image must survive a crash.
    Result<void> finish();

    const std::string& path() const { return m_path; }
    uint64_t size() const { return m_end; }  // bytes reserved so far, header included

private:
    PagesWriter(std::string path, int fd, int direct_fd)
        : m_path(std::move(path)), m_fd(fd), m_direct_fd(direct_fd) {}
    void release();

    std::string m_path;
    int m_fd = -1;
    int m_direct_fd = -1;  // -1 for WriteMode::Cached or where O_DIRECT is refused
    uint64_t m_end = kPagesDataOffset;
};

// Reads DIR/pages.img back, checking every run against its checksum.
class PagesReader {
public:
    // Opens the file and checks its header.
    static Result<PagesReader> open(const std::string& dir);

    PagesReader(PagesReader&& other) noexcept;
    PagesReader& operator=(PagesReader&& other) noexcept;
    PagesReader(const PagesReader&) = delete;
    PagesReader& operator=(const PagesReader&) = delete;
    ~PagesReader();

    // Copies RUN's bytes to DEST (run.length bytes) and checks the checksum.
    // A run outside the file, misaligned or failing its checksum is refused
    // with an error naming pages.img and the offset. Thread-safe.
    Result<void> read(const PageRun& run, void* dest) const;

    // Checks every run of VMAS: inside its Vma, page-aligned, not
    // overlapping another run in the file, and matching its checksum. Reads
    // through one bounded buffer, so it costs one pass over the file.
    Result<void> verify(const std::vector<Vma>& vmas) const;

    const std::string& path() const { return m_path; }
    uint64_t size() const { return m_size; }

private:
    PagesReader(std::string path, int fd, uint64_t size)
        : m_path(std::move(path)), m_fd(fd), m_size(size) {}
    Result<void> check_bounds(const PageRun& run) const;
    Result<void> read_checked(const PageRun& run, void* dest, bool scratch) const;

    std::string m_path;
    int m_fd = -1;
    uint64_t m_size = 0;
};

}  // namespace crib::image
