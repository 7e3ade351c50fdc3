// crib dump / crib restore speed on real processes: heaps of 1 MiB, 256 MiB
// and 1 GiB, 1,000 and 10,000 open files, 4 threads. Times are wall clock
// around the CLI (what a user waits for), medians of several runs; MB/s is
// the dumped memory over that time, set against memcpy bandwidth measured in
// the same run (the limit). Restores are timed twice over: with pages.img
// out of the page cache (cold: read from the disk) and in it (warm), set
// so by the bench whatever way the dump wrote the file. Every restored
// process must pass its own check, so a fast but wrong restore does not
// count. CRIU 4.2's medians on this machine are the reference column. Then
// the kernel collector against the procfs one on the same processes
// (--leave-running).
//
// crib-bench-dump [CASE...]: only the cases whose label contains one of the
// CASEs ("256 MiB", "files").
#include <fcntl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <nlohmann/json.hpp>

#include <fmt/core.h>
#include "crib/harness.hpp"

namespace {

using namespace crib::harness;
using nlohmann::json;

struct Case {
    const char* label;
    const char* workload;
    std::vector<std::string> args;
    int runs;
    double criu_dump_ms, criu_restore_ms;  // 0: not measured
};

const Case kCases[] = {
    {"heap 1 MiB", "heap", {"1"}, 7, 0, 0},
    {"heap 256 MiB", "heap", {"256"}, 5, 256, 296},
    {"heap 1 GiB", "heap", {"1024"}, 3, 0, 0},
    {"1,000 files", "manyfiles", {"1000"}, 5, 269, 85},
    {"10,000 files", "manyfiles", {"10000"}, 3, 0, 0},
    {"4 threads", "threads", {}, 5, 95, 68},
};

double median(std::vector<double> v) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

double ms_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

// Best of a few copies of 256 MiB, pages touched beforehand.
double memcpy_mb_per_s() {
    const size_t bytes = 256u << 20;
    std::vector<char> src(bytes, 1), dst(bytes, 0);
    double best = 0;
    for (int i = 0; i < 5; i++) {
        auto start = Clock::now();
        std::memcpy(dst.data(), src.data(), bytes);
        asm volatile("" : : "r"(dst.data()) : "memory");
        best = std::max(best, bytes / 1e6 / (ms_since(start) / 1e3));
    }
    return best;
}

struct Sample {
    double dump_ms = 0, restore_ms = 0;
    double dump_inner_ms = 0;  // the dump's own total (--json), without CLI start-up
    uint64_t memory_bytes = 0;
};

enum class Cache { Cold, Warm };

// Puts the image's files out of the page cache (written back first: dirty
// pages stay) or into it.
void set_cache(const std::string& dir, Cache cache) {
    for (const char* name : {"core.img", "pages.img"}) {
        std::string path = dir + "/" + name;
        int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (fd < 0) continue;
        if (cache == Cache::Cold) {
            fdatasync(fd);
            posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
        } else {
            std::vector<char> buffer(8 << 20);
            while (read(fd, buffer.data(), buffer.size()) > 0) {
            }
        }
        close(fd);
    }
}

// One start, dump (killed), restore -d, self-check. Throws what went wrong.
Sample measure(const Case& c, Cache cache) {
    Workload w(c.workload, c.args);
    if (auto why = w.wait_ready(); !why.empty()) throw std::runtime_error(why);
    TempDir image("crib-bench-img");
    CribRun dump = run_crib({"dump", "-t", std::to_string(w.pid()), "-D", image.path(), "--json"});
    if (!dump.exit.ok())
        throw std::runtime_error("crib dump: " + dump.exit.describe() + ": " + dump.err);
    Sample s;
    s.dump_ms = dump.seconds * 1e3;
    json report = json::parse(dump.out);
    s.memory_bytes = report.value("memory_bytes", uint64_t{0});
    s.dump_inner_ms = report["ms"].value("total", 0.0);
    if (wait_exit(w.pid(), seconds(10)).timed_out) throw std::runtime_error("dump did not kill");
    set_cache(image.path(), cache);
    CribRun restore = run_crib({"restore", "-D", image.path(), "-d"});
    if (!restore.exit.ok())
        throw std::runtime_error("crib restore: " + restore.exit.describe() + ": " + restore.err);
    s.restore_ms = restore.seconds * 1e3;
    if (std::string result = w.check(); result != "ok")
        throw std::runtime_error("restored " + std::string(c.workload) + ": " + result);
    wait_exit(w.pid(), seconds(30));
    return s;
}

std::string criu(double ms) {
    return ms > 0 ? fmt::format("{:.0f}", ms) : "-";
}

bool selected(const Case& c, const std::vector<std::string>& only) {
    return only.empty() || std::any_of(only.begin(), only.end(), [&](const std::string& part) {
               return std::string(c.label).find(part) != std::string::npos;
           });
}

bool run_cases(double memcpy_bw, const std::vector<std::string>& only) {
    fmt::print(
        "{:<14} {:>7} {:>8} {:>9} {:>6} {:>7} {:>10} {:>6} {:>10} {:>6} {:>7} {:>9} {:>10}\n",
        "process", "MiB", "dump ms", "(in crib)", "MB/s", "/memcpy", "rest. cold", "MB/s",
        "rest. warm", "MB/s", "/memcpy", "CRIU dump", "CRIU rest.");
    bool ok = true;
    for (const Case& c : kCases) {
        if (!selected(c, only)) continue;
        std::vector<double> dumps, inner, cold, warm;
        uint64_t bytes = 0;
        try {
            for (int i = 0; i < c.runs; i++) {
                for (Cache cache : {Cache::Cold, Cache::Warm}) {
                    Sample s = measure(c, cache);
                    dumps.push_back(s.dump_ms);
                    inner.push_back(s.dump_inner_ms);
                    (cache == Cache::Cold ? cold : warm).push_back(s.restore_ms);
                    bytes = s.memory_bytes;
                }
            }
        } catch (const std::exception& e) {
            std::string why = e.what();
            while (!why.empty() && why.back() == '\n') why.pop_back();
            fmt::print("{:<14} failed: {}\n", c.label, why);
            kill_children();
            ok = false;
            continue;
        }
        auto mb_per_s = [&](double ms) { return bytes / 1e6 / (ms / 1e3); };
        double dump_ms = median(dumps), cold_ms = median(cold), warm_ms = median(warm);
        fmt::print(
            "{:<14} {:>7.1f} {:>8.1f} {:>9.1f} {:>6.0f} {:>7.3f} {:>10.1f} {:>6.0f} {:>10.1f} "
            "{:>6.0f} {:>7.3f} {:>9} {:>10}\n",
            c.label, bytes / 1048576.0, dump_ms, median(inner), mb_per_s(dump_ms),
            mb_per_s(dump_ms) / memcpy_bw, cold_ms, mb_per_s(cold_ms), warm_ms, mb_per_s(warm_ms),
            mb_per_s(warm_ms) / memcpy_bw, criu(c.criu_dump_ms), criu(c.criu_restore_ms));
    }
    return ok;
}

// Median collect and total time of --leave-running dumps with one collector.
std::pair<double, double> collector_ms(const Workload& w, const char* collector, int runs) {
    std::vector<double> collect, total;
    for (int i = 0; i < runs; i++) {
        TempDir image("crib-bench-img");
        CribRun run = run_crib({"dump", "-t", std::to_string(w.pid()), "-D", image.path(),
                                "--leave-running", "--json", "--collector", collector});
        if (!run.exit.ok())
            throw std::runtime_error(std::string("crib dump --collector ") + collector + ": " +
                                     run.err);
        json doc = json::parse(run.out);
        if (doc.value("collector", "") != collector)
            throw std::runtime_error(std::string(collector) + " collector fell back: " +
                                     doc.value("collector_fallback", ""));
        collect.push_back(doc["ms"].value("collect", 0.0));
        total.push_back(run.seconds * 1e3);
    }
    return {median(collect), median(total)};
}

bool run_collectors(const std::vector<std::string>& only) {
    fmt::print("\n{:<14} {:>13} {:>13} {:>13} {:>13} {:>13}\n", "process", "kernel coll.",
               "procfs coll.", "procfs/kernel", "kernel dump", "procfs dump");
    bool ok = true;
    for (const Case& c : {kCases[1], kCases[4], kCases[5]}) {
        if (!selected(c, only)) continue;
        try {
            Workload w(c.workload, c.args);
            if (auto why = w.wait_ready(); !why.empty()) throw std::runtime_error(why);
            auto [kernel_collect, kernel_total] = collector_ms(w, "kernel", 5);
            auto [procfs_collect, procfs_total] = collector_ms(w, "procfs", 5);
            fmt::print("{:<14} {:>10.2f} ms {:>10.2f} ms {:>12.1f}x {:>10.1f} ms {:>10.1f} ms\n",
                       c.label, kernel_collect, procfs_collect, procfs_collect / kernel_collect,
                       kernel_total, procfs_total);
            if (std::string result = w.check(); result != "ok")
                throw std::runtime_error("after --leave-running dumps: " + result);
        } catch (const std::exception& e) {
            fmt::print("{:<14} failed: {}\n", c.label, e.what());
            ok = false;
        }
        kill_children();
    }
    return ok;
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> only(argv + 1, argv + argc);
    become_subreaper();
    // 10,000 fds: the restorer inherits our limit (soft up to hard; no
    // CAP_SYS_RESOURCE to go beyond).
    rlimit limit;
    getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max;
    setrlimit(RLIMIT_NOFILE, &limit);

    double bw = memcpy_mb_per_s();
    fmt::print(
        "memcpy {:.0f} MB/s (best of 5 x 256 MiB); times are medians of wall clock "
        "around the crib CLI; restores with pages.img out of (cold) and in (warm) the page "
        "cache; CRIU 4.2 medians (ms) for reference\n\n",
        bw);
    bool ok = run_cases(bw, only);
    ok = run_collectors(only) && ok;
    return ok ? 0 : 1;
}
