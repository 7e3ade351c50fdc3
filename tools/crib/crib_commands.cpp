// crib dump | restore | show: checkpoint and restore a process (CRIB).
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "cli.hpp"
#include "crib/dump.hpp"
#include "crib/image/image.hpp"
#include "crib/image/pages_reader.hpp"
#include "crib/image/pages_writer.hpp"
#include "crib/image/render.hpp"
#include "crib/restore/restore.hpp"

namespace crib::cli {
namespace {

struct DumpArgs {
    pid_t pid = 0;
    std::string dir;
    bool leave_running = false;
    std::string collector = "auto";
    std::string engine = "jit";
    std::string write_mode = "auto";
};

struct RestoreArgs {
    std::string dir;
    bool detach = false;
};

struct ShowArgs {
    std::string dir;
    bool check = false;
};

Result<dump::Collector> parse_collector(const std::string& name) {
    if (name == "auto") return dump::Collector::Auto;
    if (name == "kernel") return dump::Collector::Kernel;
    if (name == "procfs") return dump::Collector::Procfs;
    return make_error(EINVAL, "unknown collector '{}' (auto, kernel or procfs)", name);
}

void print_warning(LogLevel level, std::string_view line) {
    if (level >= LogLevel::Warn)
        std::fprintf(stderr, "crib: %.*s\n", static_cast<int>(line.size()), line.data());
}

// A progress line on stderr, redrawn in place, only when stderr is a terminal.
class ProgressLine {
public:
    explicit ProgressLine(bool enabled) : m_enabled(enabled && isatty(STDERR_FILENO)) {}
    ~ProgressLine() {
        if (m_drawn) std::fputc('\n', stderr);
    }
    std::function<void(uint64_t, uint64_t)> callback() {
        if (!m_enabled) return {};
        return [this](uint64_t done, uint64_t total) {
            unsigned percent = total ? static_cast<unsigned>(done * 100 / total) : 100;
            if (m_drawn && percent == m_last) return;
            m_last = percent;
            m_drawn = true;
            std::fprintf(stderr, "\rcrib: memory %llu / %llu MiB (%u%%)",
                         static_cast<unsigned long long>(done >> 20),
                         static_cast<unsigned long long>(total >> 20), percent);
            std::fflush(stderr);
        };
    }

private:
    bool m_enabled;
    bool m_drawn = false;
    unsigned m_last = 0;
};

int run_dump(const Common& common, const DumpArgs& args) {
    dump::DumpOptions options;
    options.dir = args.dir;
    options.leave_running = args.leave_running;
    // crib exits right after: the killed process finishes dying on its own.
    options.wait_for_exit = false;
    options.log = print_warning;
    auto collector = parse_collector(args.collector);
    if (!collector) return report(common, collector.error());
    options.collector = *collector;
    auto engine = parse_engine(args.engine);
    if (!engine) return report(common, engine.error());
    options.engine = *engine;
    auto write_mode = image::write_mode_from_name(args.write_mode);
    if (!write_mode)
        return report(common, make_error(EINVAL, "unknown write mode '{}' (auto, direct or cached)",
                                         args.write_mode));
    options.write_mode = *write_mode;

    auto result = [&] {
        ProgressLine progress(!common.json);
        options.progress = progress.callback();
        return dump::dump_process(args.pid, options);
    }();
    if (!result) return report(common, result.error());
    const dump::DumpReport& r = *result;
    if (common.json) {
        Json doc{{"pid", r.pid},
                 {"dir", args.dir},
                 {"collector", r.collector},
                 {"threads", r.threads},
                 {"vmas", r.vmas},
                 {"files", r.files},
                 {"records", r.records},
                 {"memory_bytes", r.memory_bytes},
                 {"page_runs", r.page_runs},
                 {"write_mode", image::write_mode_name(r.write_mode)},
                 {"killed", r.killed},
                 {"ms",
                  {{"freeze", r.freeze_ms},
                   {"collect", r.collect_ms},
                   {"programs", r.programs_ms},
                   {"memory", r.memory_ms},
                   {"write", r.write_ms},
                   {"release", r.release_ms},
                   {"total", r.total_ms}}}};
        if (!r.collector_fallback.empty()) doc["collector_fallback"] = r.collector_fallback;
        print_json(doc);
        return 0;
    }
    if (!r.collector_fallback.empty())
        std::fprintf(stderr, "crib: kernel collector unavailable (%s); used procfs\n",
                     r.collector_fallback.c_str());
    std::printf(
        "dumped pid %d to %s: %zu threads, %zu mappings, %zu files, %.1f MiB in %.1f ms "
        "(%s collector); process %s\n",
        r.pid, args.dir.c_str(), r.threads, r.vmas, r.files,
        static_cast<double>(r.memory_bytes) / (1 << 20), r.total_ms, r.collector.c_str(),
        r.killed ? "killed" : "left running");
    return 0;
}

// Without -d crib stays the restored process's parent and leaves with its
// exit status, as a shell would report it.
int run_restore(const Common& common, const RestoreArgs& args) {
    restore::RestoreOptions options;
    options.log = print_warning;
    restore::RestoreTimes times;
    options.times = &times;
    auto pid = restore::restore_process(args.dir, options);
    if (!pid) return report(common, pid.error());
    if (common.json) {
        print_json(Json{{"pid", *pid},
                        {"dir", args.dir},
                        {"detached", args.detach},
                        {"ms",
                         {{"checks", times.checks_ms},
                          {"build", times.build_ms},
                          {"finish", times.finish_ms},
                          {"total", times.total_ms}}}});
    } else if (args.detach) {
        std::printf("restored pid %d from %s\n", *pid, args.dir.c_str());
    }
    std::fflush(stdout);
    if (args.detach) return 0;
    int status = 0;
    while (waitpid(*pid, &status, 0) < 0)
        if (errno != EINTR) return report(common, make_error(errno, "waiting for pid {}", *pid));
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return 128 + WTERMSIG(status);
}

int run_show(const Common& common, const ShowArgs& args) {
    auto image = image::read_core(args.dir);
    if (!image) return report(common, image.error());
    if (args.check) {
        auto pages = image::PagesReader::open(args.dir);
        if (!pages) return report(common, pages.error());
        if (auto checked = pages->verify(image->process.vmas); !checked)
            return report(common, checked.error());
    }
    if (common.json) {
        print_json(image::to_json(*image));
    } else {
        std::fputs(image::describe(*image).c_str(), stdout);
    }
    return 0;
}

}  // namespace

void add_crib_commands(CLI::App& app, Common& common) {
    auto dump_args = std::make_shared<DumpArgs>();
    auto* dump_cmd =
        app.add_subcommand("dump", "Checkpoint a running process into an image directory");
    dump_cmd->add_option("-t,--tree", dump_args->pid, "PID of the process")->required();
    dump_cmd->add_option("-D,--images-dir", dump_args->dir, "Image directory")->required();
    dump_cmd->add_flag("--leave-running", dump_args->leave_running,
                       "Let the process run on after the dump (default: kill it)");
    dump_cmd->add_option("--collector", dump_args->collector,
                         "auto (kernel when BPF is permitted), kernel or procfs");
    dump_cmd->add_option("--engine", dump_args->engine,
                         "Engine for the dump programs: jit, interp");
    dump_cmd->add_option("--write-mode", dump_args->write_mode,
                         "How pages.img is written: auto (through the page cache while it has "
                         "room), direct (O_DIRECT) or cached");
    dump_cmd->add_flag("--json", common.json, "Print JSON");
    dump_cmd->callback([&common, dump_args] { common.status = run_dump(common, *dump_args); });

    auto restore_args = std::make_shared<RestoreArgs>();
    auto* restore_cmd =
        app.add_subcommand("restore", "Restore a process from an image directory, same PID");
    restore_cmd->add_option("-D,--images-dir", restore_args->dir, "Image directory")->required();
    restore_cmd->add_flag("-d,--restore-detached", restore_args->detach,
                          "Detach: crib exits, the process lives on");
    restore_cmd->add_flag("--json", common.json, "Print JSON");
    restore_cmd->callback(
        [&common, restore_args] { common.status = run_restore(common, *restore_args); });

    auto show_args = std::make_shared<ShowArgs>();
    auto* show_cmd = app.add_subcommand("show", "Print an image");
    show_cmd->add_option("DIR", show_args->dir, "Image directory")->required();
    show_cmd->add_flag("--check", show_args->check, "Also verify every saved page's checksum");
    show_cmd->add_flag("--json", common.json, "Print JSON");
    show_cmd->callback([&common, show_args] { common.status = run_show(common, *show_args); });
}

}  // namespace crib::cli
