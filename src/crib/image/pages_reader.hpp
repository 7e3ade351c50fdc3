// Reading pages.img: the restore side of the format pages.hpp describes.
#pragma once

#include <cstdint>
#include <functional>
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

    // Hands RUN's bytes to SINK piece by piece where the file is mapped
    // (SINK(offset into the run, bytes, length)), hashing each piece right
    // after SINK has taken it, and checks the checksum: for a caller that
    // copies the pages into place itself (UFFDIO_COPY). Errors as read's,
    // or SINK's. The file must not shrink meanwhile (SIGBUS). Maps the file
    // on first use (verify too), so unlike read not thread-safe.
    using PieceSink = std::function<Result<void>(uint64_t, const uint8_t*, uint64_t)>;
    Result<void> read_mapped(const PageRun& run, const PieceSink& sink) const;

    // Checks where every run of VMAS lies, reading nothing: inside its Vma,
    // whole pages in the data area, inside the file, not overlapping another
    // run in the file.
    Result<void> check_layout(const std::vector<Vma>& vmas) const;

    // check_layout, then every run's checksum, hashed where the file is
    // mapped (no copy): one pass over the file. The file must not shrink
    // meanwhile (SIGBUS).
    Result<void> verify(const std::vector<Vma>& vmas) const;

    const std::string& path() const { return m_path; }
    uint64_t size() const { return m_size; }

private:
    PagesReader(std::string path, int fd, uint64_t size)
        : m_path(std::move(path)), m_fd(fd), m_size(size) {}
    void release();
    Result<const uint8_t*> mapped() const;
    Result<void> check_bounds(const PageRun& run) const;
    Result<void> check_sum(const PageRun& run, uint64_t hash) const;

    std::string m_path;
    int m_fd = -1;
    uint64_t m_size = 0;
    mutable const uint8_t* m_map = nullptr;  // the whole file, read-only, mapped on first use
};

}  // namespace crib::image
