#include "crib/dump.hpp"

#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <filesystem>
#include <span>

#include "crib/dump_programs.hpp"
#include "crib/image/image.hpp"
#include "crib/kernel/kernel_collector.hpp"
#include "crib/kfuncs.hpp"
#include "crib/proc/freezer.hpp"
#include "crib/proc/memory.hpp"
#include "crib/proc/procfs_collector.hpp"
#include "crib/proc/ptrace_state.hpp"
#include "crib/records.hpp"
#include "maps/ringbuf.hpp"

namespace crib::dump {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double ms_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// The files a dump writes: removed again unless the dump succeeds, so a
// failed dump leaves DIR as it found it.
class ImageDir {
public:
    static Result<ImageDir> prepare(const std::string& dir) {
        if (dir.empty()) return make_error(EINVAL, "no image directory given (-D DIR)");
        std::error_code ec;
        bool created = fs::create_directories(dir, ec);
        if (ec)
            return make_error(ec.value(), "cannot create image directory {}: {}", dir,
                              ec.message());
        if (!fs::is_directory(dir)) return make_error(ENOTDIR, "{} is not a directory", dir);
        for (const char* name : {"core.img", "pages.img"})
            if (fs::exists(fs::path(dir) / name))
                return make_error(EEXIST, "{} already holds an image ({}); use an empty directory",
                                  dir, name);
        return ImageDir(dir, created);
    }
    ImageDir(ImageDir&& other) noexcept
        : m_dir(std::move(other.m_dir)), m_created(other.m_created), m_keep(other.m_keep) {
        other.m_keep = true;
    }
    ~ImageDir() {
        if (m_keep) return;
        std::error_code ec;
        for (const char* name : {"core.img", "pages.img"}) fs::remove(fs::path(m_dir) / name, ec);
        if (m_created) fs::remove(m_dir, ec);
    }
    const std::string& path() const { return m_dir; }
    void keep() { m_keep = true; }

private:
    ImageDir(std::string dir, bool created) : m_dir(std::move(dir)), m_created(created) {}
    std::string m_dir;
    bool m_created;
    bool m_keep = false;
};

Result<void> collect(const proc::Freezer& freezer, const DumpOptions& options,
                     image::Process& process, DumpReport& report) {
    bool use_kernel = options.collector == Collector::Kernel;
    if (options.collector == Collector::Auto) {
        auto available = kernel::available();
        use_kernel = available.ok();
        if (!available) report.collector_fallback = available.error().message();
    }
    if (use_kernel) {
        CRIB_TRY(kernel::collect_kernel(freezer, process));
    } else {
        CRIB_TRY(proc::collect_procfs(freezer, process));
    }
    report.collector = use_kernel ? "kernel" : "procfs";
    return proc::collect_ptrace_state(freezer, process);
}

// Runs every dump program over the collected state and rebuilds the
// process from the records they sent: the image holds what the programs
// said, not what crib collected behind them.
Result<image::Process> run_programs(const image::Process& collected, const DumpOptions& options,
                                    DumpReport& report) {
    CRIB_TRY(register_checkpoint_kfuncs());
    runtime::LoadOptions load;
    load.engine = options.engine;
    load.log = options.log;
    auto object = CRIB_TRY(load_dump_programs(load));
    maps::Map* ringbuf = object->find_map("records");
    if (!ringbuf) return make_error(ENOENT, "dump programs: no 'records' ringbuf");

    ProcessBuilder builder;
    std::optional<Error> record_error;
    auto consumer =
        CRIB_TRY(maps::RingbufConsumer::create(*ringbuf, [&](std::span<const uint8_t> record) {
            if (auto added = builder.add(record); !added) {
                record_error = std::move(added).error();
                return -1;
            }
            report.records++;
            return 0;
        }));

    auto session = CRIB_TRY(KfuncSession::open(collected));
    crib_dump_ctx ctx{static_cast<uint32_t>(collected.task.pid), 0};
    progs::TestRunAttr attr;
    attr.ctx_in = std::span(reinterpret_cast<const uint8_t*>(&ctx), sizeof(ctx));
    for (const char* name : kDumpPrograms) {
        runtime::Prog* prog = object->find_program(name);
        if (!prog) return make_error(ENOENT, "dump program '{}' missing", name);
        auto run = prog->test_run(attr);
        if (!run) return std::move(run.error().in_program(name));
        int32_t retval = static_cast<int32_t>(run->retval);
        CRIB_TRY(session->status());
        if (retval < 0)
            return make_error(-retval, "dump program '{}' failed: {}", name, errno_name(-retval));
        consumer.consume();
        if (record_error) return std::move(*record_error);
    }
    return builder.finish();
}

std::string kernel_release() {
    utsname name{};
    return uname(&name) == 0 ? name.release : "";
}

uint64_t realtime_ns() {
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    return static_cast<uint64_t>(now.tv_sec) * 1000000000u + static_cast<uint64_t>(now.tv_nsec);
}

}  // namespace

Result<DumpReport> dump_process(pid_t pid, const DumpOptions& options) {
    const auto start = Clock::now();
    DumpReport report;
    report.pid = pid;
    if (pid <= 0) return make_error(EINVAL, "bad pid {}", pid);
    if (pid == getpid()) return make_error(EINVAL, "crib cannot dump itself (pid {})", pid);
    ImageDir dir = CRIB_TRY(ImageDir::prepare(options.dir));

    auto phase = Clock::now();
    auto freezer = CRIB_TRY(proc::Freezer::freeze(pid));
    report.freeze_ms = ms_since(phase);
    image::DumpInfo info;
    info.time_ns = realtime_ns();
    info.kernel_release = kernel_release();

    phase = Clock::now();
    image::Process collected;
    CRIB_TRY(collect(*freezer, options, collected, report));
    info.collector = report.collector;
    report.collect_ms = ms_since(phase);

    phase = Clock::now();
    image::Process process = CRIB_TRY(run_programs(collected, options, report));
    report.programs_ms = ms_since(phase);
    report.threads = process.threads.size();
    report.vmas = process.vmas.size();
    report.files = process.files.size();

    phase = Clock::now();
    proc::MemoryOptions memory_options;
    memory_options.progress = options.progress;
    memory_options.write_mode = options.write_mode;
    auto memory = CRIB_TRY(proc::dump_memory(pid, process.vmas, dir.path(), memory_options));
    report.memory_bytes = memory.bytes;
    report.page_runs = memory.runs;
    report.write_mode = memory.write_mode;
    info.page_bytes = memory.bytes;
    report.memory_ms = ms_since(phase);

    phase = Clock::now();
    CRIB_TRY(image::write_core(dir.path(), image::Image{std::move(process), info}));
    report.write_ms = ms_since(phase);

    // The image is complete: from here on the process's fate is all that is left.
    dir.keep();
    phase = Clock::now();
    if (options.leave_running) {
        CRIB_TRY(freezer->thaw());
    } else {
        CRIB_TRY(freezer->kill(options.wait_for_exit ? proc::Freezer::KillWait::WaitUntilGone
                                                     : proc::Freezer::KillWait::Return));
        report.killed = true;
    }
    report.release_ms = ms_since(phase);
    report.total_ms = ms_since(start);
    return report;
}

}  // namespace crib::dump
