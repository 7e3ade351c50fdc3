// PagesWriter on the real file system: several writes in flight at once
// store the same bytes as one at a time, preallocation keeps the file's
// shape, and WriteMode::Auto follows the kernel's dirty budget.
#include "crib/image/pages_writer.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <atomic>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

#include "crib/image/pages_reader.hpp"

namespace crib::image {
namespace {

constexpr uint64_t kMiB = 1 << 20;

class TempDir {
public:
    TempDir() {
        // Not /dev/shm: tmpfs refuses O_DIRECT, and Direct is what is tested.
        char name[] = "/tmp/crib-pages-writer-XXXXXX";
        m_path = mkdtemp(name);
    }
    ~TempDir() { std::filesystem::remove_all(m_path); }
    const std::string& path() const { return m_path; }

private:
    std::string m_path;
};

// A page-aligned buffer (O_DIRECT wants one) where each page differs.
struct Pattern {
    explicit Pattern(uint64_t bytes, uint8_t seed) : length(bytes) {
        data = static_cast<uint8_t*>(
            mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
        for (uint64_t page = 0; page < bytes / kPageSize; ++page)
            std::memset(data + page * kPageSize, static_cast<uint8_t>(seed + page), kPageSize);
    }
    ~Pattern() { munmap(data, length); }
    uint8_t* data;
    uint64_t length;
};

uint64_t file_size(const std::string& path) {
    struct stat st {};
    return stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_size) : 0;
}

uint64_t allocated_bytes(const std::string& path) {
    struct stat st {};
    return stat(path.c_str(), &st) == 0 ? static_cast<uint64_t>(st.st_blocks) * 512 : 0;
}

// Runs written by THREADS threads at once, each taking the next chunk,
// read back byte for byte and by checksum.
void expect_parallel_writes_read_back(WriteMode mode, int threads) {
    TempDir dir;
    constexpr uint64_t kChunk = 4 * kMiB;
    constexpr int kChunks = 12;
    std::vector<std::unique_ptr<Pattern>> chunks;
    std::vector<PageRun> runs;
    auto writer = PagesWriter::create(dir.path(), mode);
    ASSERT_TRUE(writer) << writer.error().to_string();
    EXPECT_EQ(writer->mode(), mode);
    for (int i = 0; i < kChunks; ++i) {
        chunks.push_back(std::make_unique<Pattern>(kChunk, static_cast<uint8_t>(i * 16)));
        const uint64_t address = 0x700000000000 + i * 2 * kChunk;
        runs.push_back(
            {address, kChunk, writer->reserve(kChunk), page_checksum(chunks.back()->data, kChunk)});
    }
    auto allocated = writer->allocate();
    ASSERT_TRUE(allocated) << allocated.error().to_string();
    // Preallocated: the file already has its final size and its blocks.
    EXPECT_EQ(file_size(writer->path()), writer->size());
    EXPECT_GE(allocated_bytes(writer->path()), writer->size() - kPagesDataOffset);

    std::atomic<int> next{0};
    std::atomic<int> failures{0};
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t)
        workers.emplace_back([&] {
            // Highest first: writes land out of file order, as they do when
            // several writers race.
            for (int i; (i = next.fetch_add(1)) < kChunks;) {
                const int chunk = kChunks - 1 - i;
                if (!writer->write(runs[chunk].file_offset, chunks[chunk]->data, kChunk))
                    ++failures;
            }
        });
    for (std::thread& worker : workers) worker.join();
    EXPECT_EQ(failures.load(), 0);
    ASSERT_TRUE(writer->finish());

    auto reader = PagesReader::open(dir.path());
    ASSERT_TRUE(reader) << reader.error().to_string();
    std::vector<uint8_t> back(kChunk);
    for (int i = 0; i < kChunks; ++i) {
        auto read = reader->read(runs[i], back.data());
        ASSERT_TRUE(read) << read.error().to_string();
        EXPECT_EQ(0, std::memcmp(back.data(), chunks[i]->data, kChunk)) << "chunk " << i;
    }
    EXPECT_EQ(file_size(pages_path(dir.path())), kPagesDataOffset + kChunks * kChunk);
}

TEST(PagesWriter, SeveralDirectWritesInFlightStoreTheSameBytes) {
    expect_parallel_writes_read_back(WriteMode::Direct, 4);
}

TEST(PagesWriter, SeveralCachedWritesInFlightStoreTheSameBytes) {
    expect_parallel_writes_read_back(WriteMode::Cached, 3);
}

TEST(PagesWriter, AllocatedButUnfinishedLeavesNoFile) {
    TempDir dir;
    {
        auto writer = PagesWriter::create(dir.path(), WriteMode::Direct);
        ASSERT_TRUE(writer) << writer.error().to_string();
        writer->reserve(8 * kMiB);
        ASSERT_TRUE(writer->allocate());
    }
    EXPECT_FALSE(std::filesystem::exists(pages_path(dir.path())));
}

TEST(PagesWriter, AllocateBeyondTheFileSystemFailsNamingTheFile) {
    TempDir dir;
    auto writer = PagesWriter::create(dir.path(), WriteMode::Direct);
    ASSERT_TRUE(writer) << writer.error().to_string();
    writer->reserve(uint64_t{1} << 60);  // an exabyte: no file system here holds it
    auto allocated = writer->allocate();
    ASSERT_FALSE(allocated);
    EXPECT_TRUE(allocated.error().code() == EFBIG || allocated.error().code() == ENOSPC)
        << allocated.error().to_string();
    EXPECT_NE(allocated.error().message().find("pages.img"), std::string::npos);
}

TEST(WriteModeChoice, ExplicitModesAreKept) {
    const DirtyBudget tight{.available = kMiB, .dirty = 0, .background = 0, .limit = 0};
    EXPECT_EQ(choose_write_mode(WriteMode::Cached, 1 << 30, tight), WriteMode::Cached);
    EXPECT_EQ(choose_write_mode(WriteMode::Direct, kPageSize, {}), WriteMode::Direct);
}

TEST(WriteModeChoice, AutoIsCachedWithinHalfTheRoomUnderTheBackgroundThreshold) {
    const DirtyBudget budget{
        .available = 20ull << 30, .dirty = 0, .background = 2ull << 30, .limit = 4ull << 30};
    EXPECT_EQ(choose_write_mode(WriteMode::Auto, 256 * kMiB, budget), WriteMode::Cached);
    EXPECT_EQ(choose_write_mode(WriteMode::Auto, 1024 * kMiB, budget), WriteMode::Cached);
    EXPECT_EQ(choose_write_mode(WriteMode::Auto, 1024 * kMiB + kPageSize, budget),
              WriteMode::Direct);
    // What is dirty already takes its share of the room.
    DirtyBudget busy = budget;
    busy.dirty = 1ull << 30;
    EXPECT_EQ(choose_write_mode(WriteMode::Auto, 512 * kMiB, busy), WriteMode::Cached);
    EXPECT_EQ(choose_write_mode(WriteMode::Auto, 513 * kMiB, busy), WriteMode::Direct);
    // Past the threshold nothing is cached.
    busy.dirty = 3ull << 30;
    EXPECT_EQ(choose_write_mode(WriteMode::Auto, kPageSize, busy), WriteMode::Direct);
}

uint64_t sysctl(const char* name) {
    std::ifstream in(std::string("/proc/sys/vm/") + name);
    uint64_t value = 0;
    in >> value;
    return value;
}

TEST(WriteModeChoice, BudgetIsReadFromTheRunningKernel) {
    auto budget = read_dirty_budget();
    ASSERT_TRUE(budget) << budget.error().to_string();
    EXPECT_GT(budget->available, 0u);
    if (const uint64_t bytes = sysctl("dirty_background_bytes"); bytes != 0)
        EXPECT_EQ(budget->background, bytes);
    else
        EXPECT_EQ(budget->background, budget->available / 100 * sysctl("dirty_background_ratio"));
    if (const uint64_t bytes = sysctl("dirty_bytes"); bytes != 0)
        EXPECT_EQ(budget->limit, bytes);
    else
        EXPECT_EQ(budget->limit, budget->available / 100 * sysctl("dirty_ratio"));
    // Anything this machine runs leaves room for a page in the cache, and
    // nothing holds more than all the available memory dirty.
    EXPECT_EQ(choose_write_mode(WriteMode::Auto, kPageSize, *budget), WriteMode::Cached);
    EXPECT_EQ(choose_write_mode(WriteMode::Auto, budget->available, *budget), WriteMode::Direct);
}

TEST(WriteModeChoice, AutoWriterTakesTheModeTheBudgetGives) {
    TempDir dir, other;
    auto small = PagesWriter::create(dir.path(), WriteMode::Auto, kPageSize);
    ASSERT_TRUE(small) << small.error().to_string();
    EXPECT_EQ(small->mode(), WriteMode::Cached);
    auto budget = read_dirty_budget();
    ASSERT_TRUE(budget);
    auto huge = PagesWriter::create(other.path(), WriteMode::Auto, budget->available);
    ASSERT_TRUE(huge) << huge.error().to_string();
    EXPECT_EQ(huge->mode(), WriteMode::Direct);
}

TEST(WriteModeChoice, NamesAreTheCliWords) {
    EXPECT_EQ(write_mode_name(WriteMode::Direct), "direct");
    EXPECT_EQ(write_mode_name(WriteMode::Cached), "cached");
    EXPECT_EQ(write_mode_name(WriteMode::Auto), "auto");
    for (const WriteMode mode : {WriteMode::Direct, WriteMode::Cached, WriteMode::Auto})
        EXPECT_EQ(write_mode_from_name(write_mode_name(mode)), mode);
    EXPECT_EQ(write_mode_from_name("Direct"), std::nullopt);
    EXPECT_EQ(write_mode_from_name(""), std::nullopt);
}

}  // namespace
}  // namespace crib::image
