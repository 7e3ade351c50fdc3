// Which pages of a Vma hold state worth saving (see dump_memory). Internal
// to crib/proc: memory.cpp copies what this selects.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "base/result.hpp"
#include "crib/image/model.hpp"

namespace crib::proc {

struct PageRange {
    uint64_t start = 0, end = 0;  // page-aligned, end exclusive
    bool operator==(const PageRange&) const = default;
};

// Opens what choosing pages of PID needs (its pagemap) once for all Vmas.
class PageSelector {
public:
    static Result<PageSelector> open(pid_t pid);

    PageSelector(PageSelector&& other) noexcept;
    PageSelector& operator=(PageSelector&&) = delete;
    PageSelector(const PageSelector&) = delete;
    PageSelector& operator=(const PageSelector&) = delete;
    ~PageSelector();

    // The ranges of VMA to save, sorted, disjoint and not adjacent.
    Result<std::vector<PageRange>> select(const image::Vma& vma);

private:
    PageSelector(pid_t pid, int pagemap) : m_pid(pid), m_pagemap(pagemap) {}
    Result<std::vector<PageRange>> scan(const image::Vma& vma, uint64_t inverted, uint64_t mask,
                                        uint64_t anyof);
    Result<std::vector<PageRange>> shared_object(const image::Vma& vma);

    pid_t m_pid;
    int m_pagemap = -1;
};

}  // namespace crib::proc
