// How fast crib saves a process's memory, against the limit: memcpy
// bandwidth measured in the same run. For each size a child touches that
// much heap and stops itself; the bench then times raw process_vm_readv
// (the read stage alone, with the dumper's granule) and dump_memory into
// pages.img (reading, hashing, writing). Best of a few rounds each: the
// machine is shared, the best round is the one least disturbed.
//
//   crib-bench-memory [--rounds N] [--dir DIR] [--sizes MiB,MiB,...]
//
// pages.img goes to DIR (default $TMPDIR or /tmp), once per write mode:
// direct (O_DIRECT, the default) and cached (through the page cache).
#include <signal.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "crib/proc/memory.hpp"

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kReadGranule = 8 * kMiB;  // what dump_memory hands process_vm_readv

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

double rate_mbs(uint64_t bytes, double seconds) {
    return static_cast<double>(bytes) / kMiB / seconds;
}

constexpr std::pair<crib::image::WriteMode, const char*> kModes[] = {
    {crib::image::WriteMode::Direct, "direct"},
    {crib::image::WriteMode::Cached, "cached"},
};

struct Options {
    int rounds = 3;
    std::string dir;
    std::vector<uint64_t> sizes{1 * kMiB, 256 * kMiB, 1024 * kMiB};
};

// A stopped child whose heap holds SIZE touched bytes.
class HeapChild {
public:
    explicit HeapChild(uint64_t size) {
        int report[2];
        if (pipe(report) != 0) std::abort();
        m_pid = fork();
        if (m_pid == 0) {
            auto* heap = static_cast<uint8_t*>(sbrk(static_cast<intptr_t>(size)));
            if (heap == reinterpret_cast<uint8_t*>(-1)) _exit(1);
            for (uint64_t i = 0; i < size; i += 4096) std::memset(heap + i, (i >> 12) | 1, 4096);
            const uint64_t range[2] = {reinterpret_cast<uint64_t>(heap),
                                       reinterpret_cast<uint64_t>(heap) + size};
            if (write(report[1], range, sizeof range) != sizeof range) _exit(1);
            raise(SIGSTOP);
            _exit(0);
        }
        close(report[1]);
        uint64_t range[2] = {};
        if (read(report[0], range, sizeof range) != sizeof range) std::abort();
        close(report[0]);
        int status = 0;
        waitpid(m_pid, &status, WUNTRACED);
        m_start = range[0];
        m_end = range[1];
    }
    ~HeapChild() {
        kill(m_pid, SIGKILL);
        waitpid(m_pid, nullptr, 0);
    }
    pid_t pid() const { return m_pid; }

    // The heap as the collector would describe it; sbrk may start the
    // touched range mid-page, so it is rounded out to whole pages.
    crib::image::Vma vma() const {
        crib::image::Vma vma;
        vma.start = m_start & ~uint64_t{4095};
        vma.end = (m_end + 4095) & ~uint64_t{4095};
        vma.prot = PROT_READ | PROT_WRITE;
        vma.flags = MAP_PRIVATE | MAP_ANONYMOUS;
        vma.kind = crib::image::VmaKind::Heap;
        vma.path = "[heap]";
        return vma;
    }

private:
    pid_t m_pid = -1;
    uint64_t m_start = 0, m_end = 0;
};

// Best memcpy bandwidth over buffers of SIZE (at least 256 MiB, so caches do not flatter it).
double memcpy_seconds_per_byte(int rounds) {
    const uint64_t size = 256 * kMiB;
    auto* from = static_cast<uint8_t*>(mmap(nullptr, size, PROT_READ | PROT_WRITE,
                                            MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0));
    auto* to = static_cast<uint8_t*>(mmap(nullptr, size, PROT_READ | PROT_WRITE,
                                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0));
    std::memset(from, 0x5a, size);
    double best = 1e9;
    for (int i = 0; i < rounds + 1; ++i) {
        const auto start = Clock::now();
        std::memcpy(to, from, size);
        asm volatile("" : : "r"(to) : "memory");
        best = std::min(best, seconds_since(start));
    }
    munmap(from, size);
    munmap(to, size);
    return best / size;
}

double process_vm_readv_seconds(const HeapChild& child, const crib::image::Vma& vma, int rounds) {
    const uint64_t size = vma.end - vma.start;
    const uint64_t granule = std::min(size, kReadGranule);
    auto* buffer = static_cast<uint8_t*>(mmap(nullptr, granule, PROT_READ | PROT_WRITE,
                                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0));
    double best = 1e9;
    for (int i = 0; i < rounds; ++i) {
        const auto start = Clock::now();
        for (uint64_t at = vma.start; at < vma.end; at += granule) {
            iovec local{buffer, std::min(granule, vma.end - at)};
            iovec remote{reinterpret_cast<void*>(at), local.iov_len};
            if (process_vm_readv(child.pid(), &local, 1, &remote, 1, 0) < 0) {
                std::perror("process_vm_readv");
                std::exit(1);
            }
        }
        best = std::min(best, seconds_since(start));
    }
    munmap(buffer, granule);
    return best;
}

Options parse(int argc, char** argv) {
    Options options;
    const char* tmp = std::getenv("TMPDIR");
    options.dir = tmp ? tmp : "/tmp";
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i], value = argv[i + 1];
        if (flag == "--rounds") {
            options.rounds = std::max(1, std::atoi(value.c_str()));
        } else if (flag == "--dir") {
            options.dir = value;
        } else if (flag == "--sizes") {
            options.sizes.clear();
            for (size_t at = 0; at < value.size();) {
                const size_t comma = std::min(value.find(',', at), value.size());
                options.sizes.push_back(std::stoull(value.substr(at, comma - at)) * kMiB);
                at = comma + 1;
            }
        } else {
            std::fprintf(stderr, "usage: %s [--rounds N] [--dir DIR] [--sizes MiB,...]\n", argv[0]);
            std::exit(2);
        }
    }
    return options;
}

}  // namespace

int main(int argc, char** argv) {
    const Options options = parse(argc, argv);
    const double memcpy_per_byte = memcpy_seconds_per_byte(options.rounds);
    std::printf("memcpy: %.0f MB/s (the limit; ratios below are against it)\n",
                1.0 / memcpy_per_byte / kMiB);
    std::printf("pages.img in %s, best of %d rounds\n\n", options.dir.c_str(), options.rounds);
    std::printf("%9s | %10s %6s | %6s | %9s %10s %6s | %8s %8s\n", "size", "readv MB/s", "/mcpy",
                "mode", "dump ms", "dump MB/s", "/mcpy", "read ms", "write ms");

    for (const uint64_t size : options.sizes) {
        HeapChild child(size);
        const crib::image::Vma heap = child.vma();
        const uint64_t bytes = heap.end - heap.start;
        const double readv = process_vm_readv_seconds(child, heap, options.rounds);

        const double limit = bytes * memcpy_per_byte;
        for (const auto& [mode, mode_name] : kModes) {
            crib::proc::MemoryOptions dump_options;
            dump_options.write_mode = mode;
            crib::proc::MemoryStats best;
            best.seconds = 1e9;
            for (int i = 0; i < options.rounds; ++i) {
                std::string dir = options.dir + "/crib-bench-memory-XXXXXX";
                if (!mkdtemp(dir.data())) {
                    std::perror(dir.c_str());
                    return 1;
                }
                std::vector<crib::image::Vma> vmas{heap};
                auto stats = crib::proc::dump_memory(child.pid(), vmas, dir, dump_options);
                std::filesystem::remove_all(dir);
                if (!stats) {
                    std::fprintf(stderr, "dump_memory: %s\n", stats.error().to_string().c_str());
                    return 1;
                }
                if (stats->seconds < best.seconds) best = *stats;
            }
            std::printf("%5llu MiB | %10.0f %6.2f | %6s | %9.2f %10.0f %6.2f | %8.2f %8.2f\n",
                        static_cast<unsigned long long>(size / kMiB), rate_mbs(bytes, readv),
                        limit / readv, mode_name, best.seconds * 1e3,
                        rate_mbs(best.bytes, best.seconds), limit / best.seconds,
                        best.read_seconds * 1e3, best.write_seconds * 1e3);
        }
    }
    return 0;
}
