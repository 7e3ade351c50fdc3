// How long collecting a frozen process's metadata takes with the kernel
// collector (BPF iterators reading binary records) and with the procfs
// collector (/proc files and injected syscalls), on the same frozen
// process in the same run, with the ratio. Median of a few rounds each:
// the machine is shared. The kernel collector's start-up (a load of its BPF
// object into the kernel, or taking the programs an earlier run pinned) is
// paid once per process and printed apart.
//
//   crib-bench-collect [--rounds N] [--files N]
//
// The many-files process raises its RLIMIT_NOFILE soft limit, never past
// the hard limit; with a lower hard limit it opens what it may.
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "crib/kernel/iterators.hpp"
#include "crib/kernel/kernel_collector.hpp"
#include "crib/proc/freezer.hpp"
#include "crib/proc/procfs_collector.hpp"

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
    int rounds = 5;
    int files = 10000;
};

// A child that opens `files` descriptors (alternately /dev/null and one of
// a hundred files in a temporary directory, so paths vary), reports when
// done and waits to be killed.
class FilesChild {
public:
    FilesChild(int files, const std::string& dir) {
        int report[2];
        if (pipe(report) != 0) std::abort();
        m_pid = fork();
        if (m_pid == 0) {
            close(report[0]);
            rlimit limit{};
            getrlimit(RLIMIT_NOFILE, &limit);
            rlim_t want = static_cast<rlim_t>(files) + 64;
            limit.rlim_cur = std::min(want, limit.rlim_max);
            setrlimit(RLIMIT_NOFILE, &limit);
            int opened = 0;
            for (int i = 0; i < files; ++i) {
                std::string path =
                    i % 2 ? "/dev/null" : dir + "/file" + std::to_string(i % 200 / 2);
                if (open(path.c_str(), O_RDWR | O_CREAT, 0600) < 0) break;
                ++opened;
            }
            if (write(report[1], &opened, sizeof opened) != sizeof opened) _exit(1);
            for (;;) pause();
        }
        close(report[1]);
        int opened = 0;
        if (read(report[0], &opened, sizeof opened) != sizeof opened) std::abort();
        close(report[0]);
    }
    ~FilesChild() {
        kill(m_pid, SIGKILL);
        waitpid(m_pid, nullptr, 0);
    }
    pid_t pid() const { return m_pid; }

private:
    pid_t m_pid = -1;
};

template <typename Collect>
double median_ms(int rounds, Collect collect) {
    std::vector<double> times;
    for (int i = 0; i < rounds; ++i) {
        crib::image::Process process;
        auto start = Clock::now();
        auto result = collect(process);
        times.push_back(std::chrono::duration<double, std::milli>(Clock::now() - start).count());
        if (!result) {
            std::fprintf(stderr, "collect failed: %s\n", result.error().to_string().c_str());
            std::exit(1);
        }
    }
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
}

void bench(const char* name, int files, const Options& options, const std::string& dir) {
    FilesChild child(files, dir);
    auto frozen = crib::proc::Freezer::freeze(child.pid());
    if (!frozen) {
        std::fprintf(stderr, "freeze failed: %s\n", frozen.error().to_string().c_str());
        std::exit(1);
    }
    const crib::proc::Freezer& freezer = **frozen;
    crib::image::Process sample;
    if (!crib::kernel::collect_kernel(freezer, sample)) std::exit(1);
    double kernel = median_ms(options.rounds, [&](crib::image::Process& out) {
        return crib::kernel::collect_kernel(freezer, out);
    });
    double procfs = median_ms(options.rounds, [&](crib::image::Process& out) {
        return crib::proc::collect_procfs(freezer, out);
    });
    std::printf("%-14s %8zu %12.3f %12.3f %9.1fx\n", name, sample.files.size(), kernel, procfs,
                procfs / kernel);
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (std::strcmp(argv[i], "--rounds") == 0)
            options.rounds = std::max(1, std::atoi(argv[i + 1]));
        if (std::strcmp(argv[i], "--files") == 0)
            options.files = std::max(0, std::atoi(argv[i + 1]));
    }
    prctl(PR_SET_CHILD_SUBREAPER, 1);
    if (auto available = crib::kernel::available(); !available) {
        std::printf("kernel collector unavailable, nothing to compare: %s\n",
                    available.error().to_string().c_str());
        return 0;
    }
    // What a crib run pays before its first collection: the first run on a
    // kernel loads the object (libbpf's CO-RE pass, the kernel's verifier)
    // and pins it; later runs take the pins.
    double loaded = median_ms(options.rounds, [](crib::image::Process&) {
        return crib::kernel::IteratorObject::load("");
    });
    double pinned = median_ms(
        options.rounds, [](crib::image::Process&) { return crib::kernel::IteratorObject::load(); });
    std::printf("kernel collector start-up: load %.3f ms, from pins %.3f ms (%s)\n", loaded, pinned,
                crib::kernel::kPinRoot.data());
    std::string dir = std::filesystem::temp_directory_path() / "crib-bench-collect-XXXXXX";
    if (!mkdtemp(dir.data())) return 1;

    std::printf("%-14s %8s %12s %12s %10s\n", "process", "fds", "kernel ms", "procfs ms",
                "procfs/kernel");
    bench("small", 0, options, dir);
    bench("many files", options.files, options, dir);
    std::filesystem::remove_all(dir);
    return 0;
}
