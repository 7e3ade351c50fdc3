// Writing pages.img: the dump side of the format pages.hpp describes.
#pragma once

#include <cstdint>
#include <string>

#include "base/result.hpp"
#include "crib/image/model.hpp"
#include "crib/image/pages.hpp"

namespace crib::image {

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

}  // namespace crib::image
