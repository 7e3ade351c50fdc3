// crib restore: rebuild a saved process under its old PID, as a child of the
// caller, and let it run on. The technique (docs/restore.md): a clone3 child
// with set_tid reopens the files and stages the saved address space in a hole
// of the saved layout; the restorer blob (restorer/) then swaps the address
// space, recreates the threads and the signal state, and stops each thread on
// int3; the caller's side, tracing it, loads the saved registers, unmaps the
// hole and detaches.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>

#include "base/log.hpp"
#include "base/result.hpp"
#include "crib/image/image.hpp"

namespace crib::restore {

// Where a restore's time went (for --json and benchmarks).
struct RestoreTimes {
    double checks_ms = 0;  // preflight and the wait for free ids
    double build_ms = 0;   // clone to the restorer's last stop: files, memory, threads
    double finish_ms = 0;  // registers, the hole unmapped, detach
    double total_ms = 0;
};

struct RestoreOptions {
    // How long to wait for the saved PID (and thread ids) to become free: a
    // killed process may linger as a zombie until PID 1 reaps it.
    std::chrono::milliseconds pid_wait{5000};
    LogSink log;
    RestoreTimes* times = nullptr;  // filled when set and the restore succeeds
};

// Rebuilds the process saved in `dir` (core.img, pages.img) as a child of
// the caller and lets it run; returns its pid (== the saved pid). The caller
// waits for it (waitpid) or not. On any failure nothing is left behind (the
// half-built child is killed and reaped) and the error says why.
// The child is made with a raw clone3 (set_tid has no libc wrapper), so no
// atfork handler runs: call this while no other thread of the caller can
// hold a libc lock (malloc's), as crib's CLI and tests do.
Result<pid_t> restore_process(const std::string& dir, const RestoreOptions& options);

// The same from an image in memory, page contents from dir_for_pages/pages.img.
Result<pid_t> restore_process(const image::Image& image, const std::string& dir_for_pages,
                              const RestoreOptions& options);

}  // namespace crib::restore
