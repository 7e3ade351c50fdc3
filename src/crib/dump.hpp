// `crib dump`: freeze a process, collect its state, run the CRIB dump
// programs over it, save its memory and write the image; then kill the
// process or let it run on. A failed dump leaves the process running as it
// was and removes what it wrote.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>

#include "base/log.hpp"
#include "base/result.hpp"
#include "crib/image/pages_writer.hpp"
#include "runtime/runtime.hpp"

namespace crib::dump {

enum class Collector { Auto, Kernel, Procfs };

struct DumpOptions {
    std::string dir;
    bool leave_running = false;
    // After the kill, wait until the process is gone (its memory freed, its
    // pid free again). A command that exits right after the dump need not:
    // the dying process finishes on its own once crib, its tracer, exits.
    bool wait_for_exit = true;
    Collector collector = Collector::Auto;
    runtime::Engine engine = runtime::Engine::Jit;
    image::WriteMode write_mode = image::WriteMode::Auto;
    // Called as memory is written: bytes done of the total.
    std::function<void(uint64_t done, uint64_t total)> progress;
    LogSink log;
};

struct DumpReport {
    pid_t pid = 0;
    std::string collector;           // the one that ran: "kernel" or "procfs"
    std::string collector_fallback;  // why Auto did not use the kernel collector
    size_t threads = 0, vmas = 0, files = 0, records = 0;
    uint64_t memory_bytes = 0, page_runs = 0;
    image::WriteMode write_mode = image::WriteMode::Auto;  // as used: Auto resolved
    // Milliseconds per phase.
    // release: killing the process and waiting for it to go, or thawing it.
    double freeze_ms = 0, collect_ms = 0, programs_ms = 0, memory_ms = 0, write_ms = 0,
           release_ms = 0, total_ms = 0;
    bool killed = false;
};

Result<DumpReport> dump_process(pid_t pid, const DumpOptions& options);

}  // namespace crib::dump
