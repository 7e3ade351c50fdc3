// dump_memory on a real child: which pages it saves of each kind of mapping,
// that pages.img gives back exactly what the child wrote, and that a
// damaged pages.img is refused with the place of the damage.
#include "crib/proc/memory.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "crib/image/pages_reader.hpp"
#include "crib/image/pages_writer.hpp"

namespace crib::proc {
namespace {

using image::kPageSize;
using image::PageRun;
using image::Vma;
using image::VmaKind;

// Page I of a region holds its own address, then SEED + I repeated: no two
// pages alike, so a page read from the wrong place shows.
void fill_page(uint8_t* page, uint8_t seed, uint64_t index) {
    std::memset(page, static_cast<uint8_t>(seed + index), kPageSize);
    const auto address = reinterpret_cast<uint64_t>(page);
    std::memcpy(page, &address, sizeof address);
}

std::vector<uint8_t> expected_page(uint64_t address, uint8_t seed, uint64_t index) {
    std::vector<uint8_t> page(kPageSize, static_cast<uint8_t>(seed + index));
    std::memcpy(page.data(), &address, sizeof address);
    return page;
}

// Where the child put things; sent to the test through a pipe.
struct Layout {
    uint64_t anon, file, shared, no_access, guard, big, huge;
};
constexpr uint64_t kAnonPages = 64, kFilePages = 8, kSharedPages = 8, kNoAccessPages = 4,
                   kGuardPages = 4;
constexpr uint64_t kAnonTouched[] = {0, 1, 2, 10, 40, 41, 42, 43, 44, 45, 46, 47, 63};
constexpr uint64_t kAnonReadOnly = 20;  // read, never written: maps the zero page
constexpr uint64_t kFileWritten[] = {2, 5};
constexpr uint64_t kSharedByParent[] = {1, 3};  // written by the test, never by the child
constexpr uint64_t kSharedByChild[] = {5};
constexpr uint64_t kNoAccessWritten[] = {0, 2};
// More than the copier's buffers hold (4 x 8 MiB), with holes so that
// runs start and end inside buffers and cross from one to the next.
constexpr uint64_t kBigPages = (80 << 20) / kPageSize;
constexpr uint64_t kBigHoleEvery = 1001;
constexpr uint8_t kBigSeed = 0xc0;
// Two huge-page-sized halves asking for transparent huge pages: the first
// written whole, the second on one page only. A huge page, where the system
// gives one, makes its whole 2 MiB present.
constexpr uint64_t kHugeBytes = 2 << 20;
constexpr uint64_t kHugeSecondWritten = 7;
constexpr uint8_t kHugeSeed = 0xe0;
constexpr uint8_t kAnonSeed = 0x10, kFileSeed = 0x40, kSharedSeed = 0x70, kNoAccessSeed = 0xa0;

// Ranges of whole pages, coalesced, as dump_memory should produce them.
std::vector<std::pair<uint64_t, uint64_t>> runs_of(uint64_t base,
                                                   std::initializer_list<uint64_t> pages) {
    std::vector<uint64_t> sorted(pages);
    std::sort(sorted.begin(), sorted.end());
    std::vector<std::pair<uint64_t, uint64_t>> runs;
    for (uint64_t page : sorted) {
        const uint64_t address = base + page * kPageSize;
        if (!runs.empty() && runs.back().first + runs.back().second == address)
            runs.back().second += kPageSize;
        else
            runs.push_back({address, kPageSize});
    }
    return runs;
}

std::vector<std::pair<uint64_t, uint64_t>> runs_in(const Vma& vma) {
    std::vector<std::pair<uint64_t, uint64_t>> runs;
    for (const PageRun& run : vma.pages) runs.push_back({run.address, run.length});
    return runs;
}

// The Vma list of PID from /proc/PID/maps (the collector's job in crib; a
// small parser here keeps this test to the memory dump).
std::vector<Vma> read_vmas(pid_t pid) {
    std::ifstream maps("/proc/" + std::to_string(pid) + "/maps");
    std::vector<Vma> vmas;
    std::string line;
    while (std::getline(maps, line)) {
        std::istringstream in(line);
        std::string range, perms, offset, dev, inode, path;
        in >> range >> perms >> offset >> dev >> inode;
        std::getline(in >> std::ws, path);
        Vma vma;
        vma.start = std::stoull(range.substr(0, range.find('-')), nullptr, 16);
        vma.end = std::stoull(range.substr(range.find('-') + 1), nullptr, 16);
        vma.prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
                   (perms[2] == 'x' ? PROT_EXEC : 0);
        vma.flags = perms[3] == 's' ? MAP_SHARED : MAP_PRIVATE;
        vma.pgoff = std::stoull(offset, nullptr, 16);
        vma.ino = std::stoull(inode);
        vma.path = path;
        const std::pair<const char*, VmaKind> kSpecial[] = {
            {"[heap]", VmaKind::Heap},        {"[stack]", VmaKind::Stack},
            {"[vdso]", VmaKind::Vdso},        {"[vvar]", VmaKind::Vvar},
            {"[vvar_vclock]", VmaKind::Vvar}, {"[vsyscall]", VmaKind::Vsyscall},
        };
        vma.kind = path.empty() || path == "/dev/zero (deleted)" || path.starts_with("[anon")
                       ? VmaKind::Anon
                       : VmaKind::File;
        for (const auto& [name, kind] : kSpecial)
            if (path == name) vma.kind = kind;
        if (vma.kind == VmaKind::Anon) vma.flags |= MAP_ANONYMOUS;
        vmas.push_back(vma);
    }
    return vmas;
}

const Vma& vma_at(const std::vector<Vma>& vmas, uint64_t start) {
    for (const Vma& vma : vmas)
        if (vma.start == start) return vma;
    ADD_FAILURE() << "no vma starts at " << std::hex << start;
    static const Vma none;
    return none;
}

class TempDir {
public:
    TempDir() {
        char name[] = "/tmp/crib-memory-XXXXXX";
        m_path = mkdtemp(name);
    }
    ~TempDir() { std::filesystem::remove_all(m_path); }
    const std::string& path() const { return m_path; }

private:
    std::string m_path;
};

// A private anonymous read-write mapping with a read-only page on either
// side: the kernel cannot merge it with a neighbour of the same protection
// (nor, once made inaccessible, with the PROT_NONE guard region), so it
// stays one Vma starting where the test expects.
uint8_t* isolated_anon(uint64_t bytes) {
    auto* area = static_cast<uint8_t*>(
        mmap(nullptr, bytes + 2 * kPageSize, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    if (area == MAP_FAILED) std::abort();
    if (mprotect(area + kPageSize, bytes, PROT_READ | PROT_WRITE) != 0) std::abort();
    return area + kPageSize;
}

// A child that builds every kind of mapping dump_memory treats differently,
// reports where, and stops itself.
class MemoryChild {
public:
    explicit MemoryChild(const std::string& dir) {
        // Shared memory the test fills after the fork: the child's page
        // tables never see those pages, only the shared object holds them.
        m_shared =
            static_cast<uint8_t*>(mmap(nullptr, kSharedPages * kPageSize, PROT_READ | PROT_WRITE,
                                       MAP_SHARED | MAP_ANONYMOUS, -1, 0));
        const std::string file = dir + "/backing";
        {
            std::ofstream out(file);
            out << std::string(kFilePages * kPageSize, 'F');
        }
        int pipe_fds[2];
        if (pipe(pipe_fds) != 0) std::abort();
        m_pid = fork();
        if (m_pid == 0) {
            close(pipe_fds[0]);
            run_child(pipe_fds[1], file);
        }
        close(pipe_fds[1]);
        for (uint64_t page : kSharedByParent)
            fill_page(m_shared + page * kPageSize, kSharedSeed, page);
        if (read(pipe_fds[0], &m_layout, sizeof m_layout) != sizeof m_layout) m_layout = {};
        close(pipe_fds[0]);
        int status = 0;
        waitpid(m_pid, &status, WUNTRACED);
        m_stopped = WIFSTOPPED(status);
    }
    ~MemoryChild() {
        kill(m_pid, SIGKILL);
        waitpid(m_pid, nullptr, 0);
        munmap(m_shared, kSharedPages * kPageSize);
    }

    pid_t pid() const { return m_pid; }
    bool stopped() const { return m_stopped; }
    const Layout& layout() const { return m_layout; }

private:
    [[noreturn]] void run_child(int report, const std::string& file) {
        Layout layout{};
        auto* anon = isolated_anon(kAnonPages * kPageSize);
        for (uint64_t page : kAnonTouched) fill_page(anon + page * kPageSize, kAnonSeed, page);
        volatile uint8_t sink = anon[kAnonReadOnly * kPageSize];
        (void)sink;

        const int fd = open(file.c_str(), O_RDONLY);
        auto* mapped = static_cast<uint8_t*>(
            mmap(nullptr, kFilePages * kPageSize, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0));
        close(fd);
        uint64_t sum = 0;
        for (uint64_t page = 0; page < kFilePages; ++page) sum += mapped[page * kPageSize];
        for (uint64_t page : kFileWritten) fill_page(mapped + page * kPageSize, kFileSeed, page);

        for (uint64_t page : kSharedByChild)
            fill_page(m_shared + page * kPageSize, kSharedSeed, page);

        auto* no_access = isolated_anon(kNoAccessPages * kPageSize);
        for (uint64_t page : kNoAccessWritten)
            fill_page(no_access + page * kPageSize, kNoAccessSeed, page);
        mprotect(no_access, kNoAccessPages * kPageSize, PROT_NONE);

        void* guard = mmap(nullptr, kGuardPages * kPageSize, PROT_NONE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);

        auto* big = isolated_anon(kBigPages * kPageSize);
        for (uint64_t page = 0; page < kBigPages; ++page)
            if (page % kBigHoleEvery != 0) fill_page(big + page * kPageSize, kBigSeed, page);

        auto* reserve = isolated_anon(3 * kHugeBytes);
        auto* huge = reinterpret_cast<uint8_t*>(
            (reinterpret_cast<uint64_t>(reserve) + kHugeBytes - 1) & ~(kHugeBytes - 1));
        madvise(huge, 2 * kHugeBytes, MADV_HUGEPAGE);
        for (uint64_t page = 0; page < kHugeBytes / kPageSize; ++page)
            fill_page(huge + page * kPageSize, kHugeSeed, page);
        const uint64_t second = kHugeBytes / kPageSize + kHugeSecondWritten;
        fill_page(huge + second * kPageSize, kHugeSeed, second);

        layout = {reinterpret_cast<uint64_t>(anon),     reinterpret_cast<uint64_t>(mapped),
                  reinterpret_cast<uint64_t>(m_shared), reinterpret_cast<uint64_t>(no_access),
                  reinterpret_cast<uint64_t>(guard),    reinterpret_cast<uint64_t>(big),
                  reinterpret_cast<uint64_t>(huge)};
        if (write(report, &layout, sizeof layout) != sizeof layout || sum == 0) _exit(1);
        raise(SIGSTOP);
        _exit(0);
    }

    pid_t m_pid = -1;
    uint8_t* m_shared = nullptr;
    Layout m_layout{};
    bool m_stopped = false;
};

class MemoryDump : public ::testing::Test {
protected:
    void SetUp() override {
        m_child = std::make_unique<MemoryChild>(m_dir.path());
        ASSERT_TRUE(m_child->stopped());
        ASSERT_NE(m_child->layout().anon, 0u);
        m_vmas = read_vmas(m_child->pid());
        MemoryOptions options;
        options.progress = [&](uint64_t done, uint64_t total) {
            m_progress.push_back({done, total});
        };
        auto stats = dump_memory(m_child->pid(), m_vmas, m_dir.path(), options);
        if (!stats && stats.error().code() == EPERM && !std::getenv("CI"))
            GTEST_SKIP() << "reading another process's memory needs ptrace access: "
                         << stats.error().to_string();
        ASSERT_TRUE(stats) << stats.error().to_string();
        m_stats = *stats;
    }

    std::string pages_path() const { return m_dir.path() + "/" + image::kPagesFileName; }
    const Layout& layout() const { return m_child->layout(); }

    // The bytes the child has at [address, address + length), as saved.
    std::vector<uint8_t> saved(const Vma& vma, size_t run_index) {
        auto reader = image::PagesReader::open(m_dir.path());
        EXPECT_TRUE(reader) << reader.error().to_string();
        const PageRun& run = vma.pages.at(run_index);
        std::vector<uint8_t> bytes(run.length);
        auto read = reader->read(run, bytes.data());
        EXPECT_TRUE(read) << read.error().to_string();
        return bytes;
    }

    // Every saved page of VMA against what the child wrote there.
    void expect_contents(const Vma& vma, uint8_t seed) {
        for (size_t i = 0; i < vma.pages.size(); ++i) {
            const std::vector<uint8_t> bytes = saved(vma, i);
            for (uint64_t at = 0; at < bytes.size(); at += kPageSize) {
                const uint64_t address = vma.pages[i].address + at;
                const auto want = expected_page(address, seed, (address - vma.start) / kPageSize);
                EXPECT_EQ(0, std::memcmp(bytes.data() + at, want.data(), kPageSize))
                    << "page at " << std::hex << address;
            }
        }
    }

    // Dumping VMA alone, with MODE, gives the runs the whole dump gave it.
    void expect_same_alone(const Vma& vma, image::WriteMode mode) {
        std::vector<Vma> alone{vma};
        alone[0].pages.clear();
        TempDir other;
        MemoryOptions options;
        options.write_mode = mode;
        auto stats = dump_memory(m_child->pid(), alone, other.path(), options);
        ASSERT_TRUE(stats) << stats.error().to_string();
        EXPECT_EQ(stats->write_mode, mode);
        ASSERT_EQ(alone[0].pages.size(), vma.pages.size());
        for (size_t i = 0; i < vma.pages.size(); ++i) {
            EXPECT_EQ(alone[0].pages[i].address, vma.pages[i].address);
            EXPECT_EQ(alone[0].pages[i].length, vma.pages[i].length);
            EXPECT_EQ(alone[0].pages[i].checksum, vma.pages[i].checksum);
        }
        auto reader = image::PagesReader::open(other.path());
        ASSERT_TRUE(reader) << reader.error().to_string();
        EXPECT_TRUE(reader->verify(alone));
    }

    TempDir m_dir;
    std::unique_ptr<MemoryChild> m_child;
    std::vector<Vma> m_vmas;
    std::vector<std::pair<uint64_t, uint64_t>> m_progress;
    MemoryStats m_stats;
};

TEST_F(MemoryDump, PrivateAnonymousKeepsTouchedPagesOnly) {
    const Vma& anon = vma_at(m_vmas, layout().anon);
    // Page 20 was only read: it maps the zero page and is left out.
    EXPECT_EQ(runs_in(anon),
              runs_of(layout().anon, {0, 1, 2, 10, 40, 41, 42, 43, 44, 45, 46, 47, 63}));
    expect_contents(anon, kAnonSeed);
}

TEST_F(MemoryDump, PrivateFileKeepsChangedPagesOnly) {
    const Vma& file = vma_at(m_vmas, layout().file);
    EXPECT_EQ(file.kind, VmaKind::File);
    EXPECT_EQ(runs_in(file), runs_of(layout().file, {2, 5}));
    expect_contents(file, kFileSeed);
}

TEST_F(MemoryDump, SharedAnonymousKeepsPagesTheChildNeverTouched) {
    const Vma& shared = vma_at(m_vmas, layout().shared);
    EXPECT_EQ(shared.flags & MAP_SHARED, static_cast<uint32_t>(MAP_SHARED));
    EXPECT_EQ(runs_in(shared), runs_of(layout().shared, {1, 3, 5}));
    expect_contents(shared, kSharedSeed);
}

TEST_F(MemoryDump, NoAccessPagesAreReadThroughProcMem) {
    const Vma& no_access = vma_at(m_vmas, layout().no_access);
    EXPECT_EQ(no_access.prot, 0u);
    EXPECT_EQ(runs_in(no_access), runs_of(layout().no_access, {0, 2}));
    expect_contents(no_access, kNoAccessSeed);
    EXPECT_EQ(m_stats.forced_bytes, 2 * kPageSize);
    EXPECT_TRUE(vma_at(m_vmas, layout().guard).pages.empty());
}

TEST_F(MemoryDump, LargeRegionsGoThroughTheBufferPipeline) {
    const Vma& big = vma_at(m_vmas, layout().big);
    std::vector<std::pair<uint64_t, uint64_t>> want;
    for (uint64_t first = 1; first < kBigPages; first += kBigHoleEvery) {
        const uint64_t last = std::min(first + kBigHoleEvery - 1, kBigPages);
        want.push_back({layout().big + first * kPageSize, (last - first) * kPageSize});
    }
    EXPECT_EQ(runs_in(big), want);
    expect_contents(big, kBigSeed);
    // Progress came buffer by buffer, not only at the end.
    EXPECT_GE(m_progress.size(), 5u);
}

TEST_F(MemoryDump, SmallDumpOnOneThreadSavesTheSame) {
    // The anonymous region alone fits one buffer: copied and stored without
    // the second thread, to the same runs and checksums.
    expect_same_alone(vma_at(m_vmas, layout().anon), image::WriteMode::Direct);
}

TEST_F(MemoryDump, CachedWritesSaveTheSame) {
    expect_same_alone(vma_at(m_vmas, layout().big), image::WriteMode::Cached);
}

TEST_F(MemoryDump, DirectWritesInFlightSaveTheSame) {
    // 80 MiB through 4 MiB buffers: several O_DIRECT writes in flight, out of
    // file order, with the writers (not the reader) hashing in buffer order.
    ASSERT_GT(writer_threads(image::WriteMode::Direct), 1);
    expect_same_alone(vma_at(m_vmas, layout().big), image::WriteMode::Direct);
}

TEST_F(MemoryDump, AutoWriteModeFollowsTheDirtyBudget) {
    // SetUp dumped with the default options.
    EXPECT_EQ(MemoryOptions{}.write_mode, image::WriteMode::Auto);
    auto budget = image::read_dirty_budget();
    ASSERT_TRUE(budget) << budget.error().to_string();
    EXPECT_EQ(m_stats.write_mode,
              image::choose_write_mode(image::WriteMode::Auto, m_stats.bytes, *budget));
    EXPECT_NE(m_stats.write_mode, image::WriteMode::Auto);
}

TEST_F(MemoryDump, HugePagesAreSavedWithWhatTheyHold) {
    const uint64_t huge = layout().huge;
    const uint64_t second = kHugeBytes / kPageSize + kHugeSecondWritten;
    const uint64_t written_end = huge + kHugeBytes;
    const uint64_t one_page = huge + second * kPageSize;
    const Vma* vma = nullptr;
    for (const Vma& candidate : m_vmas)
        if (candidate.start <= huge && huge < candidate.end) vma = &candidate;
    ASSERT_NE(vma, nullptr);
    // Every written page is saved; anything else saved (the rest of a huge
    // page) must read as zeros.
    std::vector<bool> saved_pages(2 * kHugeBytes / kPageSize);
    auto reader = image::PagesReader::open(m_dir.path());
    ASSERT_TRUE(reader) << reader.error().to_string();
    for (const PageRun& run : vma->pages) {
        if (run.address + run.length <= huge || run.address >= huge + 2 * kHugeBytes) continue;
        std::vector<uint8_t> bytes(run.length);
        ASSERT_TRUE(reader->read(run, bytes.data()));
        for (uint64_t at = 0; at < run.length; at += kPageSize) {
            const uint64_t address = run.address + at;
            if (address < huge || address >= huge + 2 * kHugeBytes) continue;
            const uint64_t index = (address - huge) / kPageSize;
            saved_pages[index] = true;
            const bool written = address < written_end || address == one_page;
            const auto want = written ? expected_page(address, kHugeSeed, index)
                                      : std::vector<uint8_t>(kPageSize, 0);
            EXPECT_EQ(0, std::memcmp(bytes.data() + at, want.data(), kPageSize))
                << "page at " << std::hex << address;
        }
    }
    for (uint64_t index = 0; index < kHugeBytes / kPageSize; ++index)
        EXPECT_TRUE(saved_pages[index]) << "page " << index;
    EXPECT_TRUE(saved_pages[second]);
}

TEST_F(MemoryDump, SpecialMappingsAreNotSaved) {
    for (const Vma& vma : m_vmas) {
        if (vma.kind == VmaKind::Vdso || vma.kind == VmaKind::Vvar ||
            vma.kind == VmaKind::Vsyscall ||
            (vma.kind == VmaKind::File && vma.flags & MAP_SHARED)) {
            EXPECT_TRUE(vma.pages.empty()) << vma.path;
        }
    }
    // The child's stack was used, so something of it is saved.
    bool stack_saved = false;
    for (const Vma& vma : m_vmas)
        if (vma.kind == VmaKind::Stack) stack_saved = !vma.pages.empty();
    EXPECT_TRUE(stack_saved);
}

TEST_F(MemoryDump, StatsProgressAndVerifyAgree) {
    uint64_t bytes = 0, runs = 0;
    for (const Vma& vma : m_vmas) {
        runs += vma.pages.size();
        for (const PageRun& run : vma.pages) {
            bytes += run.length;
            EXPECT_EQ(run.file_offset % kPageSize, 0u);
        }
    }
    EXPECT_EQ(m_stats.bytes, bytes);
    EXPECT_EQ(m_stats.runs, runs);
    EXPECT_GT(m_stats.read_seconds, 0);
    EXPECT_GT(m_stats.hash_seconds, 0);
    EXPECT_GT(m_stats.write_seconds, 0);
    EXPECT_LE(m_stats.read_seconds + m_stats.wait_seconds, m_stats.seconds);
    ASSERT_FALSE(m_progress.empty());
    EXPECT_EQ(m_progress.back(), std::make_pair(bytes, bytes));
    for (size_t i = 1; i < m_progress.size(); ++i)
        EXPECT_LE(m_progress[i - 1].first, m_progress[i].first);
    EXPECT_EQ(std::filesystem::file_size(pages_path()), image::kPagesDataOffset + bytes);
    auto reader = image::PagesReader::open(m_dir.path());
    ASSERT_TRUE(reader) << reader.error().to_string();
    auto verified = reader->verify(m_vmas);
    EXPECT_TRUE(verified) << verified.error().to_string();
}

TEST_F(MemoryDump, CorruptedPagesAreRefusedWithTheirOffset) {
    const PageRun run = vma_at(m_vmas, layout().anon).pages.at(1);
    {
        std::fstream file(pages_path(), std::ios::in | std::ios::out | std::ios::binary);
        file.seekp(static_cast<std::streamoff>(run.file_offset + 100));
        file.put('\x5a');
    }
    auto reader = image::PagesReader::open(m_dir.path());
    ASSERT_TRUE(reader) << reader.error().to_string();
    std::vector<uint8_t> bytes(run.length);
    auto read = reader->read(run, bytes.data());
    ASSERT_FALSE(read);
    EXPECT_EQ(read.error().code(), EBADMSG);
    const std::string offset = fmt::format("offset {:#x}", run.file_offset);
    EXPECT_NE(read.error().message().find("pages.img"), std::string::npos);
    EXPECT_NE(read.error().message().find(offset), std::string::npos) << read.error().message();
    EXPECT_NE(read.error().message().find("checksum"), std::string::npos);
    auto verified = reader->verify(m_vmas);
    ASSERT_FALSE(verified);
    EXPECT_NE(verified.error().message().find(offset), std::string::npos)
        << verified.error().message();
}

TEST_F(MemoryDump, TruncatedPagesAreRefusedWithTheirOffset) {
    const PageRun* last = nullptr;
    for (const Vma& vma : m_vmas)
        for (const PageRun& run : vma.pages)
            if (!last || run.file_offset > last->file_offset) last = &run;
    ASSERT_NE(last, nullptr);
    ASSERT_EQ(truncate(pages_path().c_str(), static_cast<off_t>(last->file_offset + 10)), 0);
    auto reader = image::PagesReader::open(m_dir.path());
    ASSERT_TRUE(reader) << reader.error().to_string();
    std::vector<uint8_t> bytes(last->length);
    auto read = reader->read(*last, bytes.data());
    ASSERT_FALSE(read);
    const std::string& message = read.error().message();
    EXPECT_NE(message.find("pages.img"), std::string::npos) << message;
    EXPECT_NE(message.find(fmt::format("offset {:#x}", last->file_offset)), std::string::npos)
        << message;
    EXPECT_NE(message.find("truncated"), std::string::npos) << message;
    EXPECT_FALSE(reader->verify(m_vmas));
}

TEST(PagesImage, HeaderIsChecked) {
    TempDir dir;
    {
        std::ofstream out(dir.path() + "/" + image::kPagesFileName);
        out << std::string(kPageSize, 'x');
    }
    auto reader = image::PagesReader::open(dir.path());
    ASSERT_FALSE(reader);
    EXPECT_NE(reader.error().message().find("bad magic"), std::string::npos);
}

TEST(PagesImage, AppendedRunsReadBack) {
    TempDir dir;
    // A small unaligned run takes the page cache, a large aligned one O_DIRECT.
    std::vector<uint8_t> small(3 * kPageSize, 0x11);
    const uint64_t large_size = 4 << 20;
    void* large = nullptr;
    ASSERT_EQ(posix_memalign(&large, kPageSize, large_size), 0);
    std::memset(large, 0x22, large_size);
    std::vector<PageRun> runs;
    {
        auto writer = image::PagesWriter::create(dir.path());
        ASSERT_TRUE(writer) << writer.error().to_string();
        auto a = writer->append(0x10000, small.data(), small.size());
        ASSERT_TRUE(a) << a.error().to_string();
        auto b = writer->append(0x400000, large, large_size);
        ASSERT_TRUE(b) << b.error().to_string();
        runs = {*a, *b};
        ASSERT_TRUE(writer->finish());
    }
    EXPECT_EQ(runs[0].file_offset, image::kPagesDataOffset);
    EXPECT_EQ(runs[1].file_offset, image::kPagesDataOffset + small.size());
    auto reader = image::PagesReader::open(dir.path());
    ASSERT_TRUE(reader) << reader.error().to_string();
    std::vector<uint8_t> back(small.size());
    ASSERT_TRUE(reader->read(runs[0], back.data()));
    EXPECT_EQ(back, small);
    back.resize(large_size);
    ASSERT_TRUE(reader->read(runs[1], back.data()));
    EXPECT_EQ(0, std::memcmp(back.data(), large, large_size));
    free(large);
}

TEST(PagesImage, UnfinishedWriterLeavesNoFile) {
    TempDir dir;
    {
        auto writer = image::PagesWriter::create(dir.path());
        ASSERT_TRUE(writer) << writer.error().to_string();
    }
    EXPECT_FALSE(std::filesystem::exists(dir.path() + "/" + image::kPagesFileName));
}

TEST(DumpMemoryFailure, ProcessKilledMidDumpChangesNothing) {
    TempDir dir;
    MemoryChild child(dir.path());
    ASSERT_TRUE(child.stopped());
    std::vector<Vma> vmas = read_vmas(child.pid());
    const auto before = vmas;
    MemoryOptions options;
    // The first progress call comes after pages.img is created and before
    // any page is read: the process dies right there.
    options.progress = [&](uint64_t, uint64_t) {
        if (kill(child.pid(), SIGKILL) == 0) {
            siginfo_t info{};
            waitid(P_PID, child.pid(), &info, WEXITED | WNOWAIT);
        }
    };
    auto stats = dump_memory(child.pid(), vmas, dir.path(), options);
    ASSERT_FALSE(stats);
    EXPECT_NE(stats.error().message().find("pid " + std::to_string(child.pid())), std::string::npos)
        << stats.error().message();
    EXPECT_EQ(vmas, before);
    EXPECT_FALSE(std::filesystem::exists(dir.path() + "/" + image::kPagesFileName));
}

TEST(DumpMemoryFailure, NoRoomForTheImageFailsBeforeCopying) {
    TempDir dir;
    MemoryChild child(dir.path());
    ASSERT_TRUE(child.stopped());
    std::vector<Vma> vmas = read_vmas(child.pid());
    const auto before = vmas;
    // A file size limit below the image (the child holds over 80 MiB)
    // stands in for a full disk: preallocating pages.img fails.
    rlimit old_limit{};
    ASSERT_EQ(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
    rlimit limit = old_limit;
    limit.rlim_cur = 16 << 20;
    const auto old_handler = signal(SIGXFSZ, SIG_IGN);
    ASSERT_EQ(setrlimit(RLIMIT_FSIZE, &limit), 0);
    int buffers_filled = 0;
    MemoryOptions options;
    options.progress = [&](uint64_t, uint64_t) { ++buffers_filled; };
    options.write_mode = image::WriteMode::Direct;
    auto stats = dump_memory(child.pid(), vmas, dir.path(), options);
    setrlimit(RLIMIT_FSIZE, &old_limit);
    signal(SIGXFSZ, old_handler);
    ASSERT_FALSE(stats);
    EXPECT_EQ(stats.error().code(), EFBIG) << stats.error().to_string();
    EXPECT_NE(stats.error().message().find("pages.img"), std::string::npos);
    EXPECT_EQ(buffers_filled, 0);
    EXPECT_EQ(vmas, before);
    EXPECT_FALSE(std::filesystem::exists(dir.path() + "/" + image::kPagesFileName));
}

}  // namespace
}  // namespace crib::proc
