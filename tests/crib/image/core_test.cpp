// core.img: round trips, and refusal of every kind of damage with the file
// and offset named. Damage is forged with forge.hpp, which follows
// docs/image-format.md on its own, so the tests also hold the document to
// the code.
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "crib/image/forge.hpp"
#include "crib/image/image.hpp"
#include "crib/image/sample_image.hpp"
#include "crib/image/schema.hpp"

namespace crib::image {
namespace {

using namespace test_data;
using ::testing::HasSubstr;
using ::testing::StartsWith;
Bytes encode(const Image& image) {
    auto bytes = encode_core(image);
    EXPECT_TRUE(bytes) << bytes.error().to_string();
    return bytes ? *bytes : Bytes{};
}

RecordAt first_record(const Bytes& bytes, RecordTag tag, size_t skip = 0) {
    for (const auto& record : records_of(bytes))
        if (record.tag == uint16_t(tag) && skip-- == 0) return record;
    ADD_FAILURE() << "no record with tag " << uint16_t(tag);
    return {};
}

std::string refusal(const Bytes& bytes) {
    auto decoded = decode_core(bytes);
    if (decoded) return "accepted";
    return decoded.error().message();
}

// Whether each field (by path, indices dropped) is non-default somewhere.
class Coverage {
public:
    template <std::integral T>
    void num(std::string_view name, const T& v) {
        mark(name, v != T{});
    }
    template <std::integral T>
    void hex(std::string_view name, const T& v) {
        mark(name, v != T{});
    }
    void sigset(std::string_view name, const uint64_t& v) { mark(name, v != 0); }
    template <std::integral T, typename Text>
    void named(std::string_view name, const T& v, Text) {
        mark(name, v != T{});
    }
    template <typename E, size_t N>
    void choice(std::string_view name, const E& v, const std::array<std::string_view, N>&) {
        mark(name, v != E{});
    }
    void text(std::string_view name, const std::string& v) { mark(name, !v.empty()); }
    void blob(std::string_view name, const std::vector<uint8_t>& v) { mark(name, !v.empty()); }
    template <size_t N>
    void raw(std::string_view name, const std::array<uint8_t, N>& v) {
        mark(name, v != std::array<uint8_t, N>{});
    }
    template <typename T>
    void object(std::string_view name, const T& v) {
        nest(name, [&] { fields(*this, v); });
    }
    template <typename T, typename Each>
    void list(std::string_view name, const std::vector<T>& v, Each each) {
        mark(name, !v.empty());
        nest(name, [&] {
            for (const auto& element : v) each(*this, element);
        });
    }
    template <typename T, size_t N, typename Key, typename Each>
    void table(std::string_view name, const std::array<T, N>& v, Key, Each each) {
        nest(name, [&] {
            for (const auto& element : v) each(*this, element);
        });
    }
    template <typename F>
    void derived(std::string_view, F&&) {}

    std::vector<std::string> defaults() const {
        std::vector<std::string> out;
        for (const auto& [path, set] : m_set)
            if (!set) out.push_back(path);
        return out;
    }
    size_t size() const { return m_set.size(); }
    std::vector<std::string> paths() const {
        std::vector<std::string> out;
        for (const auto& [path, set] : m_set) out.push_back(path);
        return out;
    }

    template <typename F>
    void nest(std::string_view name, F&& walk) {
        std::string outer = m_prefix;
        m_prefix = path(name);
        walk();
        m_prefix = outer;
    }

private:
    std::string path(std::string_view name) const {
        if (name.empty()) return m_prefix;
        return m_prefix.empty() ? std::string(name) : m_prefix + "." + std::string(name);
    }
    void mark(std::string_view name, bool set) { m_set[path(name)] |= set; }

    std::string m_prefix;
    std::map<std::string, bool> m_set;
};

Coverage coverage_of(const Image& image) {
    Coverage coverage;
    for_each_record_type([&](auto record) {
        using R = decltype(record);
        coverage.nest(R::kKey, [&] {
            if constexpr (R::kRepeated)
                for (const auto& value : R::slot(image)) fields(coverage, value);
            else
                fields(coverage, R::slot(image));
        });
    });
    return coverage;
}

TEST(Core, SampleSetsEveryField) {
    Coverage coverage = coverage_of(rich_image());
    EXPECT_GT(coverage.size(), 80u);
    EXPECT_THAT(coverage.defaults(), ::testing::IsEmpty());
}

// A field added to schema.hpp but not to the document fails here.
TEST(Core, DocumentNamesEveryField) {
    std::ifstream file(std::string(CRIB_SOURCE_DIR) + "/docs/image-format.md");
    std::string doc((std::istreambuf_iterator<char>(file)), {});
    ASSERT_FALSE(doc.empty());
    for (const auto& path : coverage_of(rich_image()).paths()) {
        std::string name = path.substr(path.rfind('.') + 1);
        EXPECT_THAT(doc, HasSubstr(name)) << path;
    }
}

TEST(Core, RoundTripKeepsEveryField) {
    Image image = rich_image();
    Bytes bytes = encode(image);
    auto decoded = decode_core(bytes);
    ASSERT_TRUE(decoded) << decoded.error().to_string();
    EXPECT_EQ(*decoded, image);
    EXPECT_EQ(encode(*decoded), bytes);
}

TEST(Core, HeaderIsAsDocumented) {
    Bytes bytes = encode(rich_image());
    EXPECT_EQ(std::string(bytes.begin(), bytes.begin() + 8), std::string("CRIBIMG\0", 8));
    EXPECT_EQ(get<uint32_t>(bytes, 8), kFormatVersion);
    // info, task, 2 threads, 5 vmas, 6 files
    EXPECT_EQ(record_count(bytes), 1u + 1 + 2 + 5 + 6);
    EXPECT_EQ(get<uint64_t>(bytes, 16), bytes.size() - kHeaderSize);
    auto records = records_of(bytes);
    ASSERT_EQ(records.size(), record_count(bytes));
    EXPECT_EQ(records.back().offset + kHeadSize + records.back().size, bytes.size());
    EXPECT_EQ(records[0].tag, uint16_t(RecordTag::Info));
    EXPECT_EQ(records[1].tag, uint16_t(RecordTag::Task));
}

class CoreFile : public ::testing::Test {
protected:
    void SetUp() override {
        char name[] = "/tmp/crib-image-test-XXXXXX";
        ASSERT_NE(mkdtemp(name), nullptr);
        m_dir = name;
    }
    void TearDown() override { std::filesystem::remove_all(m_dir); }

    std::vector<std::string> entries() const {
        std::vector<std::string> out;
        for (const auto& entry : std::filesystem::directory_iterator(m_dir))
            out.push_back(entry.path().filename());
        return out;
    }

    std::string m_dir;
};

TEST_F(CoreFile, WriteThenReadGivesTheImage) {
    Image image = rich_image();
    auto written = write_core(m_dir, image);
    ASSERT_TRUE(written) << written.error().to_string();
    EXPECT_THAT(entries(), ::testing::ElementsAre("core.img"));
    auto read = read_core(m_dir);
    ASSERT_TRUE(read) << read.error().to_string();
    EXPECT_EQ(*read, image);
}

TEST_F(CoreFile, RewriteReplacesTheWholeFile) {
    Image image = rich_image();
    ASSERT_TRUE(write_core(m_dir, image));
    image.process.vmas.resize(1);
    image.process.task.comm = "second";
    ASSERT_TRUE(write_core(m_dir, image));
    EXPECT_THAT(entries(), ::testing::ElementsAre("core.img"));
    auto read = read_core(m_dir);
    ASSERT_TRUE(read) << read.error().to_string();
    EXPECT_EQ(*read, image);
}

TEST_F(CoreFile, MissingImageIsENOENT) {
    auto read = read_core(m_dir);
    ASSERT_FALSE(read);
    EXPECT_EQ(read.error().code(), ENOENT);
    EXPECT_THAT(read.error().message(), StartsWith("no image in " + m_dir));
}

TEST_F(CoreFile, MissingDirectoryIsRefusedAndNamed) {
    auto written = write_core(m_dir + "/absent", rich_image());
    ASSERT_FALSE(written);
    EXPECT_EQ(written.error().code(), ENOENT);
    EXPECT_THAT(written.error().message(), HasSubstr(m_dir + "/absent"));
}

TEST_F(CoreFile, CorruptFileIsRefusedWithItsPath) {
    ASSERT_TRUE(write_core(m_dir, rich_image()));
    std::filesystem::resize_file(m_dir + "/core.img", 100);
    auto read = read_core(m_dir);
    ASSERT_FALSE(read);
    EXPECT_THAT(read.error().message(), StartsWith(m_dir + "/core.img: offset 100: truncated"));
}

TEST_F(CoreFile, OversizedFileIsRefusedBeforeReading) {
    { std::ofstream out(m_dir + "/core.img"); }
    std::filesystem::resize_file(m_dir + "/core.img", kMaxCoreBytes + 1);
    auto read = read_core(m_dir);
    ASSERT_FALSE(read);
    EXPECT_EQ(read.error().code(), EFBIG);
    EXPECT_THAT(read.error().message(), HasSubstr("core.img: offset"));
}

TEST(CoreDamage, EveryTruncationIsRefusedWithAnOffset) {
    Bytes bytes = encode(rich_image());
    for (size_t length = 0; length < bytes.size(); ++length) {
        Bytes cut(bytes.begin(), bytes.begin() + length);
        std::string message = refusal(cut);
        ASSERT_THAT(message, StartsWith("core.img: offset ")) << "length " << length;
    }
}

// With the header resealed to the shorter length, the cut is found by the
// record walk instead: a record head or payload running past the end.
TEST(CoreDamage, TruncationBehindAResealedHeaderIsFoundInTheRecords) {
    Bytes bytes = encode(rich_image());
    uint32_t count = record_count(bytes);
    for (size_t length = kHeaderSize; length < bytes.size(); ++length) {
        Bytes cut(bytes.begin(), bytes.begin() + length);
        reseal_header(cut, count);
        std::string message = refusal(cut);
        ASSERT_THAT(message, StartsWith("core.img: offset ")) << "length " << length;
        ASSERT_THAT(message, ::testing::AnyOf(HasSubstr("runs past the end"),
                                              HasSubstr("head needs 16 bytes")))
            << "length " << length;
    }
}

TEST(CoreDamage, EveryFlippedBitIsRefused) {
    Bytes bytes = encode(rich_image());
    for (size_t offset = 0; offset < bytes.size(); ++offset) {
        for (int bit = 0; bit < 8; ++bit) {
            Bytes flipped = bytes;
            flipped[offset] ^= uint8_t(1 << bit);
            ASSERT_THAT(refusal(flipped), StartsWith("core.img: offset "))
                << "offset " << offset << " bit " << bit;
        }
    }
}

TEST(CoreDamage, ChecksumMismatchNamesTheRecordAndItsOffset) {
    Bytes bytes = encode(rich_image());
    RecordAt vma = first_record(bytes, RecordTag::Vma, 1);
    bytes[vma.offset + kHeadSize + 3] ^= 0x40;
    EXPECT_THAT(
        refusal(bytes),
        StartsWith(fmt::format("core.img: offset {}: record 'vma' checksum mismatch", vma.offset)));
}

TEST(CoreDamage, WrongMagicIsNotAnImage) {
    Bytes bytes = encode(rich_image());
    bytes[3] = 'X';
    EXPECT_EQ(refusal(bytes), "core.img: offset 0: not a crib core image (no \"CRIBIMG\" magic)");
    EXPECT_THAT(refusal(Bytes{'E', 'L', 'F'}), HasSubstr("not a crib core image"));
}

TEST(CoreDamage, NewerVersionIsRefusedAsNewer) {
    Bytes bytes = encode(rich_image());
    set<uint32_t>(bytes, 8, kFormatVersion + 1);
    reseal_header(bytes, record_count(bytes));
    auto decoded = decode_core(bytes);
    ASSERT_FALSE(decoded);
    EXPECT_EQ(decoded.error().code(), ENOTSUP);
    EXPECT_EQ(decoded.error().message(),
              fmt::format("core.img: offset 8: format version {} is newer than the {} this crib "
                          "reads; read it with a newer crib",
                          kFormatVersion + 1, kFormatVersion));

    set<uint32_t>(bytes, 8, 0);
    reseal_header(bytes, record_count(bytes));
    EXPECT_EQ(refusal(bytes), "core.img: offset 8: format version 0 was never written by crib");
}

TEST(CoreDamage, HeaderChecksumIsChecked) {
    Bytes bytes = encode(rich_image());
    set<uint32_t>(bytes, 12, record_count(bytes) - 1);
    EXPECT_THAT(refusal(bytes), StartsWith("core.img: offset 24: header checksum mismatch"));
}

TEST(CoreVersioning, UnknownOptionalRecordIsSkipped) {
    Image image = rich_image();
    Bytes bytes = encode(image);
    Bytes record = make_record(999, 1, {1, 2, 3});
    bytes.insert(bytes.begin() + ptrdiff_t(first_record(bytes, RecordTag::Vma).offset),
                 record.begin(), record.end());
    reseal_header(bytes, record_count(bytes) + 1);
    auto decoded = decode_core(bytes);
    ASSERT_TRUE(decoded) << decoded.error().to_string();
    EXPECT_EQ(*decoded, image);
}

TEST(CoreVersioning, UnknownMandatoryRecordIsRefused) {
    Bytes bytes = encode(rich_image());
    size_t at = bytes.size();
    Bytes record = make_record(999, 0, {1, 2, 3});
    bytes.insert(bytes.end(), record.begin(), record.end());
    reseal_header(bytes, record_count(bytes) + 1);
    auto decoded = decode_core(bytes);
    ASSERT_FALSE(decoded);
    EXPECT_EQ(decoded.error().code(), ENOTSUP);
    EXPECT_THAT(decoded.error().message(),
                StartsWith(fmt::format("core.img: offset {}: record with tag 999 is mandatory "
                                       "and unknown to this crib",
                                       at)));
}

TEST(CoreVersioning, UnknownRecordFlagsAreRefused) {
    Bytes bytes = encode(rich_image());
    RecordAt task = first_record(bytes, RecordTag::Task);
    set<uint16_t>(bytes, task.offset + 2, 0x8000);
    reseal_record(bytes, task.offset);
    EXPECT_EQ(refusal(bytes), fmt::format("core.img: offset {}: record 'task' has unknown flags "
                                          "0x8000",
                                          task.offset));
}

// Offset of a vma payload's path length: start, end, prot, flags, kind, pgoff.
constexpr size_t kVmaPathAt = 8 + 8 + 4 + 4 + 1 + 8;

TEST(CoreForgery, HugeStringLengthIsRefusedWithoutAllocating) {
    Bytes bytes = encode(rich_image());
    RecordAt vma = first_record(bytes, RecordTag::Vma);
    size_t at = vma.offset + kHeadSize + kVmaPathAt;
    set<uint32_t>(bytes, at, 0xffffffff);
    reseal_record(bytes, vma.offset);
    EXPECT_THAT(refusal(bytes),
                StartsWith(fmt::format("core.img: offset {}: record 'vma' field 'path': count "
                                       "4294967295 needs at least 4294967295 bytes",
                                       at)));
}

TEST(CoreForgery, HugeListCountIsRefusedWithoutAllocating) {
    Image image = rich_image();
    Bytes bytes = encode(image);
    RecordAt heap = first_record(bytes, RecordTag::Vma, 1);
    size_t at = heap.offset + kHeadSize + kVmaPathAt + 4 + image.process.vmas[1].path.size() + 16;
    ASSERT_EQ(get<uint32_t>(bytes, at), 2u);  // the heap's two page runs
    set<uint32_t>(bytes, at, 0x7fffffff);
    reseal_record(bytes, heap.offset);
    EXPECT_THAT(refusal(bytes),
                StartsWith(fmt::format("core.img: offset {}: record 'vma' field 'pages': count "
                                       "2147483647",
                                       at)));
}

TEST(CoreForgery, ShortFieldNamesItsPath) {
    Image image = rich_image();
    Bytes bytes = encode(image);
    RecordAt heap = first_record(bytes, RecordTag::Vma, 1);
    // Cut the second page run's checksum in half and make the record agree.
    size_t cut = 4;
    bytes.erase(bytes.begin() + ptrdiff_t(heap.offset + kHeadSize + heap.size - cut),
                bytes.begin() + ptrdiff_t(heap.offset + kHeadSize + heap.size));
    set<uint32_t>(bytes, heap.offset + 4, heap.size - uint32_t(cut));
    reseal_record(bytes, heap.offset);
    reseal_header(bytes, record_count(bytes));
    EXPECT_EQ(refusal(bytes), fmt::format("core.img: offset {}: record 'vma' field "
                                          "'pages[1].checksum': needs 8 bytes, 4 left",
                                          heap.offset + kHeadSize + heap.size - 8));
}

TEST(CoreForgery, LeftoverPayloadBytesAreRefused) {
    Bytes bytes = encode(rich_image());
    RecordAt info = first_record(bytes, RecordTag::Info);
    size_t end = info.offset + kHeadSize + info.size;
    bytes.insert(bytes.begin() + ptrdiff_t(end), uint8_t{0});
    set<uint32_t>(bytes, info.offset + 4, info.size + 1);
    reseal_record(bytes, info.offset);
    reseal_header(bytes, record_count(bytes));
    EXPECT_EQ(refusal(bytes), fmt::format("core.img: offset {}: record 'info': 1 bytes left over "
                                          "after the last field",
                                          end));
}

TEST(CoreForgery, EnumOutsideItsValuesIsRefused) {
    Image image = rich_image();
    image.process.vmas[0].kind = VmaKind(7);
    image.process.files[0].kind = FileKind(200);
    EXPECT_THAT(refusal(encode(image)),
                HasSubstr("record 'vma' field 'kind': value 7 is outside 0..6"));
    image.process.vmas[0].kind = VmaKind::File;
    EXPECT_THAT(refusal(encode(image)),
                HasSubstr("record 'file' field 'kind': value 200 is outside 0..5"));
}

TEST(CoreForgery, DuplicateSingleRecordIsRefused) {
    Bytes bytes = encode(rich_image());
    RecordAt task = first_record(bytes, RecordTag::Task);
    Bytes copy(bytes.begin() + ptrdiff_t(task.offset),
               bytes.begin() + ptrdiff_t(task.offset + kHeadSize + task.size));
    bytes.insert(bytes.end(), copy.begin(), copy.end());
    size_t at = bytes.size() - copy.size();
    reseal_header(bytes, record_count(bytes) + 1);
    EXPECT_EQ(refusal(bytes), fmt::format("core.img: offset {}: second 'task' record: there may "
                                          "be only one",
                                          at));
}

TEST(CoreForgery, MissingRequiredRecordIsRefused) {
    Image image = rich_image();
    image.process.threads.clear();
    Bytes bytes = encode(image);
    EXPECT_EQ(
        refusal(bytes),
        fmt::format("core.img: offset {}: no 'thread' record: an image needs one", bytes.size()));
}

struct Invariant {
    const char* what;
    void (*spoil)(Image&);
    const char* message;
};

TEST(CoreForgery, BrokenInvariantsAreRefused) {
    const Invariant kCases[] = {
        {"zero tid", [](Image& i) { i.process.threads[1].tid = 0; }, "record 'thread' has tid 0"},
        {"repeated tid", [](Image& i) { i.process.threads[1].tid = i.process.threads[0].tid; },
         "record 'thread' repeats thread 4242"},
        {"empty vma", [](Image& i) { i.process.vmas[0].end = i.process.vmas[0].start; },
         "record 'vma' 0x400000-0x400000 is not a range of whole pages"},
        {"unaligned vma", [](Image& i) { i.process.vmas[0].end += 1; },
         "record 'vma' 0x400000-0x401001 is not a range of whole pages"},
        {"unsorted vmas", [](Image& i) { std::swap(i.process.vmas[0], i.process.vmas[1]); },
         "record 'vma' 0x400000-0x401000 overlaps or precedes the mapping 0x1000000-0x1021000"},
        {"partial page run", [](Image& i) { i.process.vmas[1].pages[0].length = 100; },
         "record 'vma' page run 0 (0x1000000+0x64 at 0x0) is not whole pages"},
        {"page run outside",
         [](Image& i) {
             i.process.vmas[1].pages[1].address = 0x1020000;
             i.process.vmas[1].pages[1].length = 0x2000;
         },
         "record 'vma' page run 1 (0x1020000+0x2000) overlaps an earlier run or leaves the "
         "mapping 0x1000000-0x1021000"},
        {"unsorted files", [](Image& i) { i.process.files[1].fd = 0; },
         "record 'file' fd 0 follows fd 0: files must be in ascending fd order"},
        {"negative fd", [](Image& i) { i.process.files[0].fd = -1; }, "record 'file' has fd -1"},
    };
    for (const auto& invariant : kCases) {
        Image image = rich_image();
        invariant.spoil(image);
        EXPECT_THAT(refusal(encode(image)), HasSubstr(invariant.message)) << invariant.what;
    }
}

// The reader's invariants must hold for a real address space: this process's
// own mappings, vsyscall and all, as /proc/self/maps lists them.
TEST(CoreRealProcess, OwnMappingsRoundTrip) {
    Image image = rich_image();
    image.process.vmas.clear();
    std::ifstream maps("/proc/self/maps");
    std::string line;
    while (std::getline(maps, line)) {
        std::istringstream fields(line);
        std::string range, perms, offset, dev, path;
        uint64_t inode = 0;
        fields >> range >> perms >> offset >> dev >> inode;
        std::getline(fields >> std::ws, path);
        Vma vma;
        vma.start = std::stoull(range.substr(0, range.find('-')), nullptr, 16);
        vma.end = std::stoull(range.substr(range.find('-') + 1), nullptr, 16);
        vma.prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
                   (perms[2] == 'x' ? PROT_EXEC : 0);
        vma.flags = perms[3] == 's' ? MAP_SHARED : MAP_PRIVATE;
        vma.pgoff = std::stoull(offset, nullptr, 16);
        vma.ino = inode;
        vma.path = path;
        vma.kind = path == "[vsyscall]" ? VmaKind::Vsyscall
                   : path == "[vdso]"   ? VmaKind::Vdso
                   : path.empty()       ? VmaKind::Anon
                                        : VmaKind::File;
        image.process.vmas.push_back(vma);
    }
    ASSERT_GT(image.process.vmas.size(), 5u);
    auto decoded = decode_core(encode(image));
    ASSERT_TRUE(decoded) << decoded.error().to_string();
    EXPECT_EQ(decoded->process.vmas, image.process.vmas);
}

}  // namespace
}  // namespace crib::image
