// Writing pages.img: the dump side of the format pages.hpp describes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

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
    // Cached when the image fits well within what the kernel lets writers
    // dirty (see choose_write_mode), Direct otherwise.
    Auto,
};

// "direct", "cached", "auto", and back (nullopt for any other word).
std::string_view write_mode_name(WriteMode mode);
std::optional<WriteMode> write_mode_from_name(std::string_view name);

// What the kernel lets the page cache hold dirty before it slows writers
// down, and how much is dirty now, in bytes (from /proc/meminfo and
// /proc/sys/vm/dirty_*).
struct DirtyBudget {
    uint64_t available = 0;   // MemAvailable
    uint64_t dirty = 0;       // Dirty + Writeback now
    uint64_t background = 0;  // dirty_background_bytes, else dirty_background_ratio of available
    uint64_t limit = 0;       // dirty_bytes, else dirty_ratio of available
};
Result<DirtyBudget> read_dirty_budget();

// MODE, or for Auto the mode for writing BYTES under BUDGET.
WriteMode choose_write_mode(WriteMode mode, uint64_t bytes, const DirtyBudget& budget);

// Writes DIR/pages.img. reserve() hands out file offsets in order; write()
// fills them, from any number of threads at once (each range once), while
// no thread reserves. A writer destroyed before finish() removes its file,
// so a failed dump leaves no pages.img that looks complete.
class PagesWriter {
public:
    // BYTES: about how much will be written, for WriteMode::Auto to choose
    // by (read from the system's dirty budget; Direct if that cannot be read).
    static Result<PagesWriter> create(const std::string& dir, WriteMode mode = WriteMode::Direct,
                                      uint64_t bytes = 0);

    PagesWriter(PagesWriter&& other) noexcept;
    PagesWriter& operator=(PagesWriter&& other) noexcept;
    PagesWriter(const PagesWriter&) = delete;
    PagesWriter& operator=(const PagesWriter&) = delete;
    ~PagesWriter();

    // Room for LENGTH bytes (a multiple of kPageSize) at the end of the file.
    uint64_t reserve(uint64_t length);
    // Gives the file the blocks of everything reserved so far. Direct writes
    // into allocated blocks inside the file are overwrites, which ext4 and
    // XFS run side by side (writes past the end hold the inode lock
    // throughout); and a full disk fails here, before any copying. A no-op
    // where the file system cannot preallocate.
    Result<void> allocate();
    // Stores LENGTH bytes at OFFSET, a range reserve() handed out.
    Result<void> write(uint64_t offset, const void* data, uint64_t length);
    // reserve + checksum + write: for callers holding a whole run in memory.
    Result<PageRun> append(uint64_t address, const void* data, uint64_t length);
    // Closes the file and keeps it. Not synced to disk: that is the caller's
    // choice (syncfs) when the image must survive a crash.
    Result<void> finish();

    const std::string& path() const { return m_path; }
    WriteMode mode() const { return m_mode; }  // Direct or Cached, Auto resolved
    uint64_t size() const { return m_end; }    // bytes reserved so far, header included

private:
    PagesWriter(std::string path, WriteMode mode, int fd, int direct_fd)
        : m_path(std::move(path)), m_mode(mode), m_fd(fd), m_direct_fd(direct_fd) {}
    void release();

    std::string m_path;
    WriteMode m_mode;
    int m_fd = -1;
    int m_direct_fd = -1;  // -1 for WriteMode::Cached or where O_DIRECT is refused
    uint64_t m_end = kPagesDataOffset;
};

}  // namespace crib::image
