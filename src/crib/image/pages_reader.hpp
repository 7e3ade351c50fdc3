// Reading pages.img: the restore side of the format pages.hpp describes.
#pragma once

#include <cstdint>
#include <stop_token>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "crib/image/model.hpp"
#include "crib/image/pages.hpp"

namespace crib::image {

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

    // As read, straight from the disk into DEST (O_DIRECT: no copy through
    // the page cache, about twice the speed of buffered reads of a file out
    // of the cache here). Where the file system refuses O_DIRECT, as read.
    Result<void> read_direct(const PageRun& run, void* dest) const;

    // The share of the data pages now in the page cache, 0 to 1: whether
    // read_direct (from the disk) or read/copy (from the cache) is faster.
    double cached_fraction() const;

    // As read, without the checksum: for a caller that has verify run over
    // the same runs on another core meanwhile (crib restore), so that
    // copying and hashing overlap instead of adding up.
    Result<void> copy(const PageRun& run, void* dest) const;

    // Checks where every run of VMAS lies, reading nothing: inside its Vma,
    // whole pages in the data area, inside the file, not overlapping another
    // run in the file.
    Result<void> check_layout(const std::vector<Vma>& vmas) const;

    // check_layout, then every run's checksum, hashed where the file is
    // mapped (no copy): one pass over the file. A stop request ends it early
    // with ECANCELED. The file must not shrink meanwhile (SIGBUS).
    Result<void> verify(const std::vector<Vma>& vmas, std::stop_token stop = {}) const;

    const std::string& path() const { return m_path; }
    uint64_t size() const { return m_size; }

private:
    PagesReader(std::string path, int fd, int direct_fd, uint64_t size)
        : m_path(std::move(path)), m_fd(fd), m_direct_fd(direct_fd), m_size(size) {}
    Result<void> check_bounds(const PageRun& run) const;
    Result<void> check_sum(const PageRun& run, uint64_t hash) const;
    Result<void> read_checked(int fd, const PageRun& run, void* dest) const;

    std::string m_path;
    int m_fd = -1;
    int m_direct_fd = -1;  // O_DIRECT; -1 where the file system refuses it
    uint64_t m_size = 0;
};

}  // namespace crib::image
