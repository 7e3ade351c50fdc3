#include "crib/proc/memory.hpp"

// XXH3_state_t on the stack: its size comes from the header compiled against.
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>
// The same XXH3, on the widest vector unit the CPU has (AVX2 where the
// library's default is SSE2): hashing runs at several GB/s per core.
#include <xxh_x86dispatch.h>

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>

#include "crib/proc/memory_scan.hpp"

namespace crib::proc {

namespace {

// A pipeline: the calling thread copies pages out of the process
// (process_vm_readv, many iovecs a call) into one of a few big buffers;
// writer threads store full buffers into pages.img, several at once so that
// the device always has work queued. Runs are laid out in pages.img in the
// order they are read, so each buffer is one contiguous stretch of the file.
constexpr size_t kMaxIovecs = 1024;  // UIO_MAXIOV

// How the work splits per write mode. Direct: a write only waits for the
// device, so several are in flight and the writers, idle otherwise, hash
// (in buffer order) while the reader copies on. Cached: a write is a copy
// into the page cache that holds the file's lock (ext4 takes it exclusively
// for buffered writes), so one writer, and the reader hashes each buffer
// while it is still in the CPU's caches.
struct Split {
    image::WriteMode mode;
    int writers;
    bool writers_hash;
};
constexpr Split kSplits[] = {
    {image::WriteMode::Direct, 3, true},
    {image::WriteMode::Cached, 1, false},
};

Split split_for(image::WriteMode mode) {
    for (const Split& split : kSplits)
        if (split.mode == mode) return split;
    return kSplits[0];
}

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Job {
    size_t vma;  // index in the caller's vector
    image::PageRun run;
    bool forced;  // no PROT_READ: read through /proc/PID/mem
};

struct Filled {
    uint8_t* data;
    uint64_t file_offset, length;
    uint64_t sequence;  // order of filling, which is the order of hashing
};

// The buffers passing between the stages, and whose turn it is to hash.
// Each side sleeps on its own condition and is woken after the lock is let
// go: a woken thread that finds the lock still held would go back to sleep,
// and on a busy machine a writer woken for nothing can take the reader's CPU.
class Handoff {
public:
    explicit Handoff(std::vector<uint8_t*> buffers) : m_free(std::move(buffers)) {}

    // Reader side. nullptr once a writer failed.
    uint8_t* take_free(uint64_t& written) {
        std::unique_lock lock(m_mutex);
        m_freed.wait(lock, [&] { return !m_free.empty() || m_error; });
        written = m_written;
        if (m_error) return nullptr;
        uint8_t* buffer = m_free.back();
        m_free.pop_back();
        return buffer;
    }
    void submit(Filled filled) {
        {
            std::lock_guard lock(m_mutex);
            filled.sequence = m_submitted++;
            m_filled.push_back(filled);
        }
        m_queued.notify_one();
    }
    void close() {
        {
            std::lock_guard lock(m_mutex);
            m_closed = true;
        }
        m_queued.notify_all();
    }
    std::optional<Error> error() {
        std::lock_guard lock(m_mutex);
        return m_error;
    }

    // Writer side. nullopt when the reader closed and everything is taken,
    // or once a writer failed.
    std::optional<Filled> take_filled() {
        std::unique_lock lock(m_mutex);
        m_queued.wait(lock, [&] { return !m_filled.empty() || m_closed || m_error; });
        if (m_filled.empty() || m_error) return std::nullopt;
        Filled filled = m_filled.front();
        m_filled.pop_front();
        return filled;
    }
    // Waits until the buffers filled before FILLED are hashed. False once a
    // writer failed.
    bool wait_turn(const Filled& filled) {
        std::unique_lock lock(m_mutex);
        m_hashed_more.wait(lock, [&] { return m_hashed == filled.sequence || m_error; });
        return !m_error;
    }
    void end_turn() {
        {
            std::lock_guard lock(m_mutex);
            ++m_hashed;
        }
        m_hashed_more.notify_all();
    }
    void stored(const Filled& filled) {
        {
            std::lock_guard lock(m_mutex);
            m_written += filled.length;
            m_free.push_back(filled.data);
        }
        m_freed.notify_one();
    }
    void fail(Error error) {
        {
            std::lock_guard lock(m_mutex);
            if (!m_error) m_error = std::move(error);
        }
        m_freed.notify_all();
        m_queued.notify_all();
        m_hashed_more.notify_all();
    }

private:
    std::mutex m_mutex;
    std::condition_variable m_freed, m_queued, m_hashed_more;
    std::vector<uint8_t*> m_free;
    std::deque<Filled> m_filled;
    uint64_t m_submitted = 0, m_hashed = 0;
    uint64_t m_written = 0;
    bool m_closed = false;
    std::optional<Error> m_error;
};

// Busy time of one writer thread.
struct WriterTimes {
    double hash = 0, write = 0;
};

class PageCopier {
public:
    PageCopier(pid_t pid, std::vector<Job>& jobs, MemoryStats& stats)
        : m_pid(pid), m_jobs(jobs), m_stats(stats) {
        XXH3_64bits_reset(&m_hash);
    }
    ~PageCopier() {
        if (m_mem >= 0) ::close(m_mem);
    }

    Result<void> run(image::PagesWriter& writer, uint64_t total, const MemoryOptions& options);

private:
    Result<void> run_alone(image::PagesWriter& writer, uint8_t* buffer, uint64_t total,
                           const MemoryOptions& options);
    Result<void> run_pipelined(image::PagesWriter& writer, Split split,
                               std::vector<uint8_t*> buffers, uint64_t total,
                               const MemoryOptions& options);
    void write_buffers(image::PagesWriter& writer, Handoff& handoff, bool hashes,
                       WriterTimes& times);
    Result<void> fill(uint8_t* buffer, Filled& filled);
    Result<void> read_batch();
    Result<void> read_forced(uint8_t* dest, uint64_t address, uint64_t length);
    void hash(const uint8_t* data, uint64_t length);

    pid_t m_pid;
    std::vector<Job>& m_jobs;
    MemoryStats& m_stats;
    size_t m_job = 0;         // next job to read
    uint64_t m_job_done = 0;  // bytes of it already read
    size_t m_hash_job = 0;    // the job m_hash is summing
    uint64_t m_hash_done = 0;
    XXH3_state_t m_hash;
    std::vector<iovec> m_local, m_remote;
    uint64_t m_buffer_bytes = 0;
    int m_mem = -1;
};

Result<void> PageCopier::run(image::PagesWriter& writer, uint64_t total,
                             const MemoryOptions& options) {
    if (total == 0) {
        if (options.progress) options.progress(0, 0);
        return {};
    }
    // Enough buffers for every writer to have one in flight, one being
    // filled and one ready; no more than the dump needs. On huge pages where
    // the system has them and populated up front: faulting in a fresh buffer
    // page by page costs a good part of what copying into it does.
    const Split split = split_for(writer.mode());
    m_buffer_bytes = std::min(kCopyBufferBytes, total);
    const uint64_t count =
        std::min<uint64_t>(split.writers + 2, (total + kCopyBufferBytes - 1) / kCopyBufferBytes);
    const size_t mapped = m_buffer_bytes * count;
    void* memory =
        mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED)
        return make_error(errno, "pid {}: {} bytes of copy buffers: {}", m_pid, mapped,
                          std::strerror(errno));
    // Both are hints: without them the buffers fault in as they are used.
    madvise(memory, mapped, MADV_HUGEPAGE);
    madvise(memory, mapped, MADV_POPULATE_WRITE);
    std::vector<uint8_t*> buffers;
    for (uint64_t i = 0; i < count; ++i)
        buffers.push_back(static_cast<uint8_t*>(memory) + i * m_buffer_bytes);
    auto result = count == 1 ? run_alone(writer, buffers[0], total, options)
                             : run_pipelined(writer, split, std::move(buffers), total, options);
    munmap(memory, mapped);
    if (result && options.progress) options.progress(total, total);
    return result;
}

// All of it fits one buffer: waking other threads would cost more than the
// overlap gains.
Result<void> PageCopier::run_alone(image::PagesWriter& writer, uint8_t* buffer, uint64_t total,
                                   const MemoryOptions& options) {
    if (options.progress) options.progress(0, total);
    Filled filled{};
    CRIB_TRY(fill(buffer, filled));
    auto start = Clock::now();
    hash(filled.data, filled.length);
    m_stats.hash_seconds += seconds_since(start);
    start = Clock::now();
    CRIB_TRY(writer.write(filled.file_offset, filled.data, filled.length));
    m_stats.write_seconds += seconds_since(start);
    return {};
}

Result<void> PageCopier::run_pipelined(image::PagesWriter& writer, Split split,
                                       std::vector<uint8_t*> buffers, uint64_t total,
                                       const MemoryOptions& options) {
    Handoff handoff(std::move(buffers));
    std::vector<WriterTimes> times(split.writers);
    std::vector<std::thread> writers;
    for (WriterTimes& own : times)
        writers.emplace_back(
            [&, &own = own] { write_buffers(writer, handoff, split.writers_hash, own); });
    Result<void> result;
    while (m_job < m_jobs.size()) {
        uint64_t written = 0;
        const auto waiting = Clock::now();
        uint8_t* buffer = handoff.take_free(written);
        m_stats.wait_seconds += seconds_since(waiting);
        if (options.progress) options.progress(written, total);
        if (!buffer) break;
        Filled filled{};
        result = fill(buffer, filled);
        if (!result) {
            handoff.fail(result.error());
            break;
        }
        if (!split.writers_hash) {
            const auto start = Clock::now();
            hash(filled.data, filled.length);
            m_stats.hash_seconds += seconds_since(start);
        }
        handoff.submit(filled);
    }
    handoff.close();
    for (std::thread& thread : writers) thread.join();
    for (const WriterTimes& own : times) {
        m_stats.hash_seconds += own.hash;
        m_stats.write_seconds += own.write;
    }
    if (!result) return result;
    if (auto error = handoff.error()) return std::move(*error);
    return {};
}

// A writer thread's loop: hash in the readers' order if HASHES, then store.
void PageCopier::write_buffers(image::PagesWriter& writer, Handoff& handoff, bool hashes,
                               WriterTimes& times) {
    while (auto filled = handoff.take_filled()) {
        if (hashes) {
            if (!handoff.wait_turn(*filled)) return;
            const auto start = Clock::now();
            hash(filled->data, filled->length);
            times.hash += seconds_since(start);
            handoff.end_turn();
        }
        const auto start = Clock::now();
        auto stored = writer.write(filled->file_offset, filled->data, filled->length);
        times.write += seconds_since(start);
        if (!stored) return handoff.fail(std::move(stored).error());
        handoff.stored(*filled);
    }
}

// Fills BUFFER with the next stretch of pages.img: the rest of the current
// job, then whole following jobs, the last one possibly cut.
Result<void> PageCopier::fill(uint8_t* buffer, Filled& filled) {
    const auto start = Clock::now();
    filled = {buffer, m_jobs[m_job].run.file_offset + m_job_done, 0};
    while (filled.length < m_buffer_bytes && m_job < m_jobs.size()) {
        const Job& job = m_jobs[m_job];
        const uint64_t n = std::min(m_buffer_bytes - filled.length, job.run.length - m_job_done);
        const uint64_t address = job.run.address + m_job_done;
        uint8_t* dest = buffer + filled.length;
        if (job.forced) {
            CRIB_TRY(read_forced(dest, address, n));
        } else {
            m_local.push_back({dest, n});
            m_remote.push_back({reinterpret_cast<void*>(address), n});
            if (m_local.size() == kMaxIovecs) CRIB_TRY(read_batch());
        }
        filled.length += n;
        m_job_done += n;
        if (m_job_done == job.run.length) ++m_job, m_job_done = 0;
    }
    CRIB_TRY(read_batch());
    m_stats.read_seconds += seconds_since(start);
    return {};
}

Result<void> PageCopier::read_batch() {
    if (m_local.empty()) return {};
    uint64_t wanted = 0;
    for (const iovec& iov : m_local) wanted += iov.iov_len;
    const ssize_t n = process_vm_readv(m_pid, m_local.data(), m_local.size(), m_remote.data(),
                                       m_remote.size(), 0);
    if (n < 0 || static_cast<uint64_t>(n) != wanted) {
        // process_vm_readv stops at the first range it cannot read: name it.
        const int error = n < 0 ? errno : EFAULT;
        uint64_t got = n < 0 ? 0 : n;
        size_t i = 0;
        while (i + 1 < m_remote.size() && got >= m_remote[i].iov_len) got -= m_remote[i++].iov_len;
        const auto address = reinterpret_cast<uint64_t>(m_remote[i].iov_base) + got;
        return make_error(error, "pid {}: process_vm_readv of {:#x}: {}", m_pid, address,
                          std::strerror(error));
    }
    m_local.clear();
    m_remote.clear();
    return {};
}

// /proc/PID/mem reads with FOLL_FORCE, so it reaches pages of Vmas without
// PROT_READ (PROT_NONE after being written, write-only) that
// process_vm_readv refuses with EFAULT.
Result<void> PageCopier::read_forced(uint8_t* dest, uint64_t address, uint64_t length) {
    const std::string path = "/proc/" + std::to_string(m_pid) + "/mem";
    if (m_mem < 0) m_mem = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (m_mem < 0)
        return make_error(errno, "pid {}: open {}: {}", m_pid, path, std::strerror(errno));
    for (uint64_t done = 0; done < length;) {
        const ssize_t n =
            pread(m_mem, dest + done, length - done, static_cast<off_t>(address + done));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0)
            return make_error(n < 0 ? errno : EIO, "pid {}: reading {:#x} through {}: {}", m_pid,
                              address + done, path, n < 0 ? std::strerror(errno) : "end of file");
        done += n;
    }
    m_stats.forced_bytes += length;
    return {};
}

// Adds a buffer's bytes to the checksums of the jobs it holds, in order.
void PageCopier::hash(const uint8_t* data, uint64_t length) {
    while (length > 0) {
        image::PageRun& run = m_jobs[m_hash_job].run;
        const uint64_t n = std::min(length, run.length - m_hash_done);
        XXH3_64bits_update_dispatch(&m_hash, data, n);
        data += n, length -= n, m_hash_done += n;
        if (m_hash_done == run.length) {
            run.checksum = XXH3_64bits_digest(&m_hash);
            XXH3_64bits_reset(&m_hash);
            ++m_hash_job, m_hash_done = 0;
        }
    }
}

}  // namespace

int writer_threads(image::WriteMode mode) {
    return split_for(mode).writers;
}

Result<MemoryStats> dump_memory(pid_t pid, std::vector<image::Vma>& vmas, const std::string& dir,
                                const MemoryOptions& options) {
    const auto start = Clock::now();
    MemoryStats stats;
    std::vector<Job> jobs;
    {
        auto selector = CRIB_TRY(PageSelector::open(pid));
        for (size_t i = 0; i < vmas.size(); ++i) {
            const bool forced = (vmas[i].prot & PROT_READ) == 0;
            for (const PageRange& range : CRIB_TRY(selector.select(vmas[i])))
                jobs.push_back({i, {range.start, range.end - range.start, 0, 0}, forced});
        }
    }
    stats.scan_seconds = seconds_since(start);

    for (const Job& job : jobs) stats.bytes += job.run.length;
    stats.runs = jobs.size();
    auto writer = CRIB_TRY(image::PagesWriter::create(dir, options.write_mode, stats.bytes));
    stats.write_mode = writer.mode();
    for (Job& job : jobs) job.run.file_offset = writer.reserve(job.run.length);
    CRIB_TRY(writer.allocate());
    PageCopier copier(pid, jobs, stats);
    CRIB_TRY(copier.run(writer, stats.bytes, options));
    CRIB_TRY(writer.finish());

    for (image::Vma& vma : vmas) vma.pages.clear();
    for (const Job& job : jobs) vmas[job.vma].pages.push_back(job.run);
    stats.seconds = seconds_since(start);
    return stats;
}

}  // namespace crib::proc
