// How fast crib saves a process's memory, against the limits measured in
// the same run: memcpy bandwidth, and for each size the system's own pace
// at each stage, met the way dump_memory meets it:
//   readv   raw process_vm_readv of the child's heap, kCopyBufferBytes a call;
//   device  O_DIRECT writes of as many bytes into a new file in DIR, from
//           one buffer, with as many writes in flight as the direct dump;
//   cache   buffered writes of as many bytes into a new file in DIR.
// Then dump_memory into DIR/pages.img (reading, hashing, writing) per write
// mode, auto included (what it chose is printed). For each: end to end ms
// and MB/s, the read stage's MB/s (time the copying thread was busy, not
// waiting for a writer), and ratios against memcpy and the device. Best of
// a few rounds each: the machine is shared, the best round is the one
// least disturbed.
//
//   crib-bench-memory [--rounds N] [--dir DIR] [--sizes MiB,MiB,...]
//
// DIR defaults to $TMPDIR or /tmp.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "crib/proc/memory.hpp"

namespace {

using Clock = std::chrono::steady_clock;
constexpr uint64_t kMiB = 1 << 20;
constexpr uint64_t kGranule = crib::proc::kCopyBufferBytes;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

double rate_mbs(uint64_t bytes, double seconds) {
    return static_cast<double>(bytes) / kMiB / seconds;
}

constexpr crib::image::WriteMode kModes[] = {
    crib::image::WriteMode::Direct,
    crib::image::WriteMode::Cached,
    crib::image::WriteMode::Auto,
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
    const uint64_t granule = std::min(size, kGranule);
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

[[noreturn]] void die(const std::string& what) {
    std::perror(what.c_str());
    std::exit(1);
}

// Best time to write SIZE bytes into a new file in DIR, kGranule a write
// from one page-aligned buffer, with THREADS writes in flight; with DIRECT
// through O_DIRECT into blocks allocated first (as pages.img is), else
// through the page cache. The file is removed unsynced: its dirty pages go
// with it instead of being written back during the next measurement.
double write_seconds(const std::string& dir, uint64_t size, bool direct, int threads, int rounds) {
    auto* buffer = static_cast<uint8_t*>(mmap(nullptr, kGranule, PROT_READ | PROT_WRITE,
                                              MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0));
    std::memset(buffer, 0x5a, kGranule);
    const std::string path = dir + "/crib-bench-memory-write";
    double best = 1e9;
    for (int i = 0; i < rounds; ++i) {
        const auto start = Clock::now();
        const int fd =
            open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | (direct ? O_DIRECT : 0), 0600);
        if (fd < 0) die(path);
        if (direct && fallocate(fd, 0, 0, static_cast<off_t>(size)) != 0) die(path);
        std::atomic<uint64_t> next{0};
        std::vector<std::thread> writers;
        for (int t = 0; t < threads; ++t)
            writers.emplace_back([&] {
                for (uint64_t at; (at = next.fetch_add(kGranule)) < size;) {
                    const uint64_t n = std::min(kGranule, size - at);
                    if (pwrite(fd, buffer, n, static_cast<off_t>(at)) != static_cast<ssize_t>(n))
                        die(path);
                }
            });
        for (std::thread& writer : writers) writer.join();
        close(fd);
        best = std::min(best, seconds_since(start));
        unlink(path.c_str());
    }
    munmap(buffer, kGranule);
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
    using crib::image::WriteMode;
    const Options options = parse(argc, argv);
    const double memcpy_per_byte = memcpy_seconds_per_byte(options.rounds);
    const int writers = crib::proc::writer_threads(WriteMode::Direct);
    std::printf("memcpy: %.0f MB/s\n", 1.0 / memcpy_per_byte / kMiB);
    std::printf("files in %s, best of %d rounds; %llu KiB a call, %d O_DIRECT writes in flight\n",
                options.dir.c_str(), options.rounds,
                static_cast<unsigned long long>(kGranule >> 10), writers);
    std::printf(
        "MB/s with its ratio to memcpy (/mcpy), to the device's O_DIRECT limit (/dev)\n"
        "and to raw process_vm_readv (/rdv); read = the copying stage alone (busy\n"
        "time, not waits); hash and write ms are summed over the threads doing them\n");

    for (const uint64_t size : options.sizes) {
        HeapChild child(size);
        const crib::image::Vma heap = child.vma();
        const uint64_t bytes = heap.end - heap.start;
        const double limit = bytes * memcpy_per_byte;
        const double readv = process_vm_readv_seconds(child, heap, options.rounds);
        const double device = write_seconds(options.dir, bytes, true, writers, options.rounds);
        const double cache = write_seconds(options.dir, bytes, false, 1, options.rounds);
        std::printf(
            "\n%llu MiB: readv %.0f MB/s (%.2f /mcpy), device %.0f MB/s (%.2f /mcpy), "
            "page cache %.0f MB/s (%.2f /mcpy)\n",
            static_cast<unsigned long long>(size / kMiB), rate_mbs(bytes, readv), limit / readv,
            rate_mbs(bytes, device), limit / device, rate_mbs(bytes, cache), limit / cache);
        std::printf("  %-13s | %8s %7s %5s %5s | %7s %5s %5s | %7s %7s %8s\n", "mode", "dump ms",
                    "MB/s", "/mcpy", "/dev", "read", "/mcpy", "/rdv", "wait ms", "hash ms",
                    "write ms");
        for (const WriteMode mode : kModes) {
            crib::proc::MemoryOptions dump_options;
            dump_options.write_mode = mode;
            crib::proc::MemoryStats best;
            best.seconds = 1e9;
            for (int i = 0; i < options.rounds; ++i) {
                std::string dir = options.dir + "/crib-bench-memory-XXXXXX";
                if (!mkdtemp(dir.data())) die(dir);
                std::vector<crib::image::Vma> vmas{heap};
                auto stats = crib::proc::dump_memory(child.pid(), vmas, dir, dump_options);
                std::filesystem::remove_all(dir);
                if (!stats) {
                    std::fprintf(stderr, "dump_memory: %s\n", stats.error().to_string().c_str());
                    return 1;
                }
                if (stats->seconds < best.seconds) best = *stats;
            }
            std::string name(crib::image::write_mode_name(mode));
            if (mode == WriteMode::Auto)
                name += "->" + std::string(crib::image::write_mode_name(best.write_mode));
            std::printf(
                "  %-13s | %8.1f %7.0f %5.2f %5.2f | %7.0f %5.2f %5.2f | %7.1f %7.1f %8.1f\n",
                name.c_str(), best.seconds * 1e3, rate_mbs(best.bytes, best.seconds),
                limit / best.seconds, device / best.seconds,
                rate_mbs(best.bytes, best.read_seconds), limit / best.read_seconds,
                readv / best.read_seconds, best.wait_seconds * 1e3, best.hash_seconds * 1e3,
                best.write_seconds * 1e3);
        }
    }
    return 0;
}
