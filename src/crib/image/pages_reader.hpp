// Reading pages.img: the restore side of the format pages.hpp describes.
#pragma once

#include <cstdint>
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
