// Saving a process's memory: which pages of each Vma hold state only the
// process has, and a pipelined copy of them into pages.img. The process must
// be frozen (ptrace-stopped) by the caller for the copy to be consistent.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "crib/image/model.hpp"
#include "crib/image/pages_writer.hpp"

namespace crib::proc {

// The copy pipeline's shape, for benchmarks that measure the system's limits
// the way dump_memory meets them: process_vm_readv and pages.img writes go
// kCopyBufferBytes at a time, with writer_threads(mode) writes in flight
// (mode Direct or Cached, as MemoryStats::write_mode reports it).
inline constexpr uint64_t kCopyBufferBytes = 4 << 20;
int writer_threads(image::WriteMode mode);

struct MemoryOptions {
    // Bytes stored so far and in all: called on the calling thread before
    // each 4 MiB buffer is filled and once at the end.
    std::function<void(uint64_t done, uint64_t total)> progress;
    // Direct: least CPU, the device's pace, the page cache left alone;
    // Cached: memory's pace while the page cache has room, and a restore soon
    // after reads from memory; Auto: Cached while the dump fits well in the
    // kernel's dirty budget (image::choose_write_mode), Direct beyond.
    image::WriteMode write_mode = image::WriteMode::Auto;
};

struct MemoryStats {
    uint64_t bytes = 0;         // page bytes saved
    uint64_t runs = 0;          // PageRuns made
    uint64_t forced_bytes = 0;  // of which read through /proc/PID/mem (Vmas without PROT_READ)
    // As used: Direct or Cached, Auto resolved.
    image::WriteMode write_mode = image::WriteMode::Direct;
    double seconds = 0;       // the whole dump
    double scan_seconds = 0;  // choosing the pages (PAGEMAP_SCAN, SEEK_DATA)
    double read_seconds = 0;  // copying out of the process (the calling thread's busy time)
    double wait_seconds = 0;  // the calling thread waiting for a buffer the writers still hold
    // Summed over threads (writers overlap one another and the copying):
    double hash_seconds = 0;   // checksumming
    double write_seconds = 0;  // storing into pages.img
};

// Saves the pages of PID's VMAS worth keeping into DIR/pages.img and sets
// each Vma's `pages` to its runs (address order, adjacent pages coalesced):
//  - private anonymous, heap, stack, and shared anonymous memory: pages
//    present or swapped (pages mapping the shared zero page are left out:
//    they read as zeros anyway); for shared anonymous memory every page the
//    shared object holds, also those this process never touched;
//  - private file mappings: only pages the process changed (its anonymous
//    copies); the file holds the rest;
//  - shared file mappings, [vdso], [vvar], [vsyscall]: nothing.
// Vmas without PROT_READ are read through /proc/PID/mem, which may read what
// process_vm_readv refuses. On failure no Vma is changed and no pages.img is
// left behind.
Result<MemoryStats> dump_memory(pid_t pid, std::vector<image::Vma>& vmas, const std::string& dir,
                                const MemoryOptions& options = {});

}  // namespace crib::proc
