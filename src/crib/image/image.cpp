// core.img encoding: a header, then one length-prefixed, checksummed record
// per info/task/thread/vma/file. Writer and Reader are the two binary walkers
// over schema.hpp; the header and record heads are described the same way.
#include "crib/image/image.hpp"

#include <xxhash.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <unordered_set>

#include "crib/image/schema.hpp"

namespace crib::image {
namespace {

using Magic = std::array<uint8_t, 8>;
constexpr Magic kMagic{'C', 'R', 'I', 'B', 'I', 'M', 'G', '\0'};

// The file's first 32 bytes. Their layout never changes between versions, so
// any reader can tell a newer image from a corrupt one.
struct Header {
    Magic magic{};
    uint32_t version = 0;
    uint32_t record_count = 0;
    uint64_t body_size = 0;  // bytes after the header
    uint64_t checksum = 0;   // XXH3-64 of the 24 bytes before it
};
constexpr size_t kHeaderSize = 32;
constexpr size_t kHeaderChecksumOffset = 24;

struct RecordHead {
    uint16_t tag = 0;
    uint16_t flags = 0;
    uint32_t size = 0;      // payload bytes after the head
    uint64_t checksum = 0;  // XXH3-64 of the payload, seeded with the 8 bytes before it
};
constexpr size_t kRecordHeadSize = 16;

// A record a reader may skip when it does not know the tag. Records without it
// are mandatory: an unknown mandatory tag makes the image unreadable.
constexpr uint16_t kRecordOptional = 1;
constexpr uint16_t kKnownRecordFlags = kRecordOptional;

template <typename Io, Like<Header> T>
void fields(Io& io, T& header) {
    io.raw("magic", header.magic);
    io.num("version", header.version);
    io.num("record_count", header.record_count);
    io.num("body_size", header.body_size);
    io.hex("checksum", header.checksum);
}

template <typename Io, Like<RecordHead> T>
void fields(Io& io, T& head) {
    io.num("tag", head.tag);
    io.num("flags", head.flags);
    io.num("size", head.size);
    io.hex("checksum", head.checksum);
}

// The checksum covers tag, flags and size through the seed: the head's first
// 8 bytes read as a little-endian u64.
uint64_t record_checksum(const RecordHead& head, std::span<const uint8_t> payload) {
    uint64_t seed = uint64_t(head.tag) | uint64_t(head.flags) << 16 | uint64_t(head.size) << 32;
    return XXH3_64bits_withSeed(payload.data(), payload.size(), seed);
}

template <std::integral T>
void put_le(std::vector<uint8_t>& out, T value) {
    auto bits = std::make_unsigned_t<T>(value);
    for (size_t i = 0; i < sizeof(T); ++i) out.push_back(uint8_t(bits >> (8 * i)));
}

template <std::integral T>
T get_le(const uint8_t* bytes) {
    using U = std::make_unsigned_t<T>;
    U bits = 0;
    for (size_t i = 0; i < sizeof(T); ++i) bits = U(bits | U(bytes[i]) << (8 * i));
    return T(bits);
}

template <typename E>
using Stored = std::underlying_type_t<E>;

class Writer {
public:
    explicit Writer(std::vector<uint8_t>& out) : m_out(out) {}

    template <std::integral T>
    void num(std::string_view, const T& v) {
        put_le(m_out, v);
    }
    template <std::integral T>
    void hex(std::string_view name, const T& v) {
        num(name, v);
    }
    void sigset(std::string_view name, const uint64_t& v) { num(name, v); }
    template <std::integral T, typename Text>
    void named(std::string_view name, const T& v, Text) {
        num(name, v);
    }
    template <typename E, size_t N>
    void choice(std::string_view name, const E& v, const std::array<std::string_view, N>&) {
        num(name, Stored<E>(v));
    }
    void text(std::string_view name, const std::string& v) { bytes(name, v.data(), v.size()); }
    void blob(std::string_view name, const std::vector<uint8_t>& v) {
        bytes(name, v.data(), v.size());
    }
    template <size_t N>
    void raw(std::string_view, const std::array<uint8_t, N>& v) {
        m_out.insert(m_out.end(), v.begin(), v.end());
    }
    template <typename T>
    void object(std::string_view, const T& v) {
        fields(*this, v);
    }
    template <typename T, typename Each>
    void list(std::string_view name, const std::vector<T>& v, Each each) {
        count(name, v.size());
        for (const auto& element : v) each(*this, element);
    }
    template <typename T, size_t N, typename Key, typename Each>
    void table(std::string_view, const std::array<T, N>& v, Key, Each each) {
        for (const auto& element : v) each(*this, element);
    }
    template <typename F>
    void derived(std::string_view, F&&) {}

    // The first field too long for a u32 count, if any.
    std::string_view overflow() const { return m_overflow; }

private:
    void count(std::string_view name, size_t n) {
        if (n > UINT32_MAX && m_overflow.empty()) m_overflow = name;
        put_le(m_out, uint32_t(n));
    }
    void bytes(std::string_view name, const void* data, size_t size) {
        count(name, size);
        const auto* begin = static_cast<const uint8_t*>(data);
        m_out.insert(m_out.end(), begin, begin + size);
    }

    std::vector<uint8_t>& m_out;
    std::string_view m_overflow;
};

// Reads fields from one record's payload. The first fault is kept, with the
// file offset and the field's path ("pages[2].length"), and every later call
// does nothing, so fields() runs straight through without checks.
class Reader {
public:
    Reader(std::span<const uint8_t> bytes, uint64_t base, std::string_view file, std::string what)
        : m_bytes(bytes), m_base(base), m_file(file), m_what(std::move(what)) {}

    template <std::integral T>
    void num(std::string_view name, T& v) {
        if (const uint8_t* p = take(name, sizeof(T))) v = get_le<T>(p);
    }
    template <std::integral T>
    void hex(std::string_view name, T& v) {
        num(name, v);
    }
    void sigset(std::string_view name, uint64_t& v) { num(name, v); }
    template <std::integral T, typename Text>
    void named(std::string_view name, T& v, Text) {
        num(name, v);
    }
    template <typename E, size_t N>
    void choice(std::string_view name, E& v, const std::array<std::string_view, N>&) {
        Stored<E> stored = 0;
        num(name, stored);
        if (m_error) return;
        if (stored >= N)
            return fail(m_pos - sizeof stored, name,
                        fmt::format("value {} is outside 0..{}", uint64_t(stored), N - 1));
        v = E(stored);
    }
    void text(std::string_view name, std::string& v) {
        if (const uint8_t* p = sized(name, 1, v)) v.assign(p, p + v.size());
    }
    void blob(std::string_view name, std::vector<uint8_t>& v) {
        if (const uint8_t* p = sized(name, 1, v)) std::copy(p, p + v.size(), v.begin());
    }
    template <size_t N>
    void raw(std::string_view name, std::array<uint8_t, N>& v) {
        if (const uint8_t* p = take(name, N)) std::memcpy(v.data(), p, N);
    }
    template <typename T>
    void object(std::string_view name, T& v) {
        m_path.push_back({name, kNoIndex});
        fields(*this, v);
        m_path.pop_back();
    }
    // Elements are appended one by one as they decode, never allocated ahead
    // from the count: memory grows only with bytes actually present.
    template <typename T, typename Each>
    void list(std::string_view name, std::vector<T>& v, Each each) {
        uint32_t n = 0;
        count(name, std::is_arithmetic_v<T> ? sizeof(T) : 1, n);
        v.clear();
        m_path.push_back({name, kNoIndex});
        for (uint32_t i = 0; i < n && !m_error; ++i) {
            m_path.back().index = i;
            T element{};
            each(*this, element);
            if (!m_error) v.push_back(std::move(element));
        }
        m_path.pop_back();
    }
    template <typename T, size_t N, typename Key, typename Each>
    void table(std::string_view name, std::array<T, N>& v, Key, Each each) {
        m_path.push_back({name, kNoIndex});
        for (size_t i = 0; i < N && !m_error; ++i) {
            m_path.back().index = i;
            each(*this, v[i]);
        }
        m_path.pop_back();
    }
    template <typename F>
    void derived(std::string_view, F&&) {}

    // Every byte of a payload belongs to a field: leftovers mean a writer
    // and reader that disagree, which is refused rather than guessed at.
    void finish() {
        if (!m_error && m_pos != m_bytes.size())
            fail(m_pos, {},
                 fmt::format("{} bytes left over after the last field", m_bytes.size() - m_pos));
    }

    const std::optional<Error>& error() const { return m_error; }

private:
    static constexpr size_t kNoIndex = ~size_t{0};
    struct Step {
        std::string_view name;
        size_t index;
    };

    size_t left() const { return m_bytes.size() - m_pos; }

    const uint8_t* take(std::string_view name, size_t size) {
        if (m_error) return nullptr;
        if (size > left()) {
            fail(m_pos, name, fmt::format("needs {} bytes, {} left", size, left()));
            return nullptr;
        }
        const uint8_t* p = m_bytes.data() + m_pos;
        m_pos += size;
        return p;
    }

    // A u32 count of items of at least `unit` bytes each, checked against
    // what is left before anyone allocates for it.
    void count(std::string_view name, size_t unit, uint32_t& n) {
        num(name, n);
        if (!m_error && uint64_t(n) * unit > left())
            fail(m_pos - sizeof n, name,
                 fmt::format("count {} needs at least {} bytes, {} left", n, uint64_t(n) * unit,
                             left()));
        if (m_error) n = 0;
    }

    template <typename Container>
    const uint8_t* sized(std::string_view name, size_t unit, Container& v) {
        uint32_t n = 0;
        count(name, unit, n);
        if (m_error) return nullptr;
        v.resize(n);
        return take(name, n);
    }

    void fail(size_t pos, std::string_view name, std::string message) {
        if (m_error) return;
        std::string path;
        for (const auto& step : m_path) {
            if (!path.empty()) path += '.';
            path += step.name;
            if (step.index != kNoIndex) path += fmt::format("[{}]", step.index);
        }
        if (!name.empty()) path += (path.empty() ? "" : ".") + std::string(name);
        m_error = Error(EBADMSG,
                        fmt::format("{}: offset {}: {}{}: {}", m_file, m_base + pos, m_what,
                                    path.empty() ? "" : fmt::format(" field '{}'", path), message));
    }

    std::span<const uint8_t> m_bytes;
    size_t m_pos = 0;
    uint64_t m_base;
    std::string_view m_file;
    std::string m_what;
    std::vector<Step> m_path;
    std::optional<Error> m_error;
};

template <typename T>
std::vector<uint8_t> encode_fixed(const T& value) {
    std::vector<uint8_t> out;
    Writer writer(out);
    fields(writer, value);
    return out;
}

template <typename T>
T decode_fixed(std::span<const uint8_t> bytes, std::string_view file, uint64_t offset) {
    T value;
    Reader reader(bytes, offset, file, "head");
    fields(reader, value);
    return value;
}

// What the reader checks across records (beyond each field's own bounds):
// the invariants the model's comments promise and the restorer relies on.
struct DecodeState {
    std::unordered_set<int32_t> tids;
};

std::optional<std::string> check(const DumpInfo&, const Image&, DecodeState&) {
    return {};
}
std::optional<std::string> check(const Task&, const Image&, DecodeState&) {
    return {};
}

std::optional<std::string> check(const Thread& thread, const Image&, DecodeState& state) {
    if (thread.tid <= 0) return fmt::format("has tid {}", thread.tid);
    if (!state.tids.insert(thread.tid).second) return fmt::format("repeats thread {}", thread.tid);
    return {};
}

bool page_aligned(uint64_t value) {
    return value % kPageSize == 0;
}

std::optional<std::string> check_runs(const Vma& vma) {
    uint64_t next = vma.start;
    for (size_t i = 0; i < vma.pages.size(); ++i) {
        const PageRun& run = vma.pages[i];
        if (!page_aligned(run.address) || !page_aligned(run.length) || run.length == 0 ||
            !page_aligned(run.file_offset))
            return fmt::format("page run {} ({:#x}+{:#x} at {:#x}) is not whole pages", i,
                               run.address, run.length, run.file_offset);
        if (run.address < next || run.length > vma.end - run.address)
            return fmt::format(
                "page run {} ({:#x}+{:#x}) overlaps an earlier run or leaves the mapping "
                "{:#x}-{:#x}",
                i, run.address, run.length, vma.start, vma.end);
        if (run.file_offset + run.length < run.file_offset)
            return fmt::format("page run {} ends past 2^64 in pages.img", i);
        next = run.address + run.length;
    }
    return {};
}

std::optional<std::string> check(const Vma& vma, const Image& image, DecodeState&) {
    if (vma.start >= vma.end || !page_aligned(vma.start) || !page_aligned(vma.end))
        return fmt::format("{:#x}-{:#x} is not a range of whole pages", vma.start, vma.end);
    const auto& before = image.process.vmas;
    if (!before.empty() && before.back().end > vma.start)
        return fmt::format("{:#x}-{:#x} overlaps or precedes the mapping {:#x}-{:#x}", vma.start,
                           vma.end, before.back().start, before.back().end);
    return check_runs(vma);
}

std::optional<std::string> check(const FileDesc& file, const Image& image, DecodeState&) {
    if (file.fd < 0) return fmt::format("has fd {}", file.fd);
    const auto& before = image.process.files;
    if (!before.empty() && before.back().fd >= file.fd)
        return fmt::format("fd {} follows fd {}: files must be in ascending fd order", file.fd,
                           before.back().fd);
    return {};
}

struct RecordCodec {
    RecordTag tag;
    std::string_view name;
    bool repeated, required;
    Result<void> (*decode)(std::span<const uint8_t> payload, uint64_t offset, std::string_view file,
                           Image&, DecodeState&);
};

template <typename T>
Result<void> decode_value(Reader& reader, T& value, const Image& image, DecodeState& state,
                          uint64_t offset, std::string_view file, std::string_view name) {
    fields(reader, value);
    reader.finish();
    if (reader.error()) return *reader.error();
    if (auto problem = check(value, image, state))
        return make_error(EBADMSG, "{}: offset {}: record '{}' {}", file, offset, name, *problem);
    return {};
}

template <typename R>
Result<void> decode_record(std::span<const uint8_t> payload, uint64_t offset, std::string_view file,
                           Image& image, DecodeState& state) {
    Reader reader(payload, offset + kRecordHeadSize, file, fmt::format("record '{}'", R::kName));
    auto& slot = R::slot(image);
    if constexpr (R::kRepeated) {
        typename std::remove_reference_t<decltype(slot)>::value_type value{};
        CRIB_TRY(decode_value(reader, value, image, state, offset, file, R::kName));
        slot.push_back(std::move(value));
    } else {
        CRIB_TRY(decode_value(reader, slot, image, state, offset, file, R::kName));
    }
    return {};
}

constexpr auto kCodecs = std::apply(
    [](auto... record) {
        return std::array{RecordCodec{decltype(record)::kTag, decltype(record)::kName,
                                      decltype(record)::kRepeated, decltype(record)::kRequired,
                                      &decode_record<decltype(record)>}...};
    },
    RecordTypes{});

const RecordCodec* find_codec(uint16_t tag) {
    for (const auto& codec : kCodecs)
        if (uint16_t(codec.tag) == tag) return &codec;
    return nullptr;
}

template <typename T>
void append_record(std::vector<uint8_t>& out, RecordTag tag, const T& value, Writer& writer) {
    size_t head_at = out.size();
    out.resize(head_at + kRecordHeadSize);
    fields(writer, value);
    std::span<const uint8_t> payload(out.data() + head_at + kRecordHeadSize,
                                     out.size() - head_at - kRecordHeadSize);
    RecordHead head{uint16_t(tag), 0, uint32_t(payload.size()), 0};
    head.checksum = record_checksum(head, payload);
    auto head_bytes = encode_fixed(head);
    std::memcpy(out.data() + head_at, head_bytes.data(), head_bytes.size());
}

Error fault(int code, std::string_view file, uint64_t offset, std::string message) {
    return Error(code, fmt::format("{}: offset {}: {}", file, offset, message));
}

Result<Header> decode_header(std::span<const uint8_t> bytes, std::string_view file) {
    auto present = bytes.first(std::min(bytes.size(), kMagic.size()));
    if (!std::equal(present.begin(), present.end(), kMagic.begin()))
        return fault(EBADMSG, file, 0, "not a crib core image (no \"CRIBIMG\" magic)");
    if (bytes.size() < kHeaderSize)
        return fault(EBADMSG, file, bytes.size(),
                     fmt::format("truncated: {} bytes, shorter than the {}-byte header",
                                 bytes.size(), kHeaderSize));
    auto header = decode_fixed<Header>(bytes.first(kHeaderSize), file, 0);
    uint64_t computed = XXH3_64bits(bytes.data(), kHeaderChecksumOffset);
    if (computed != header.checksum)
        return fault(EBADMSG, file, kHeaderChecksumOffset,
                     fmt::format("header checksum mismatch (stored {:#018x}, computed {:#018x})",
                                 header.checksum, computed));
    if (header.version > kFormatVersion)
        return fault(ENOTSUP, file, kMagic.size(),
                     fmt::format("format version {} is newer than the {} this crib reads; "
                                 "read it with a newer crib",
                                 header.version, kFormatVersion));
    if (header.version != kFormatVersion)
        return fault(EBADMSG, file, kMagic.size(),
                     fmt::format("format version {} was never written by crib", header.version));
    uint64_t promised = kHeaderSize + header.body_size;
    if (header.body_size > bytes.size() - kHeaderSize)
        return fault(EBADMSG, file, bytes.size(),
                     fmt::format("truncated: the header promises {} bytes, the file has {}",
                                 promised, bytes.size()));
    if (promised < bytes.size())
        return fault(
            EBADMSG, file, promised,
            fmt::format("{} bytes after the end the header gives", bytes.size() - promised));
    return header;
}

}  // namespace

Result<std::vector<uint8_t>> encode_core(const Image& image) {
    std::vector<uint8_t> out(kHeaderSize);
    Writer writer(out);
    uint32_t records = 0;
    for_each_record_type([&](auto record) {
        using R = decltype(record);
        auto& slot = R::slot(image);
        if constexpr (R::kRepeated) {
            for (const auto& value : slot) append_record(out, R::kTag, value, writer);
            records += uint32_t(slot.size());
        } else {
            append_record(out, R::kTag, slot, writer);
            ++records;
        }
    });
    if (!writer.overflow().empty())
        return make_error(EOVERFLOW, "core.img: field '{}' holds 4 GiB or more", writer.overflow());
    if (out.size() > kMaxCoreBytes)
        return make_error(EFBIG, "core.img: {} bytes is more than the {} a core image may hold",
                          out.size(), kMaxCoreBytes);

    Header header{kMagic, kFormatVersion, records, out.size() - kHeaderSize, 0};
    auto bytes = encode_fixed(header);
    header.checksum = XXH3_64bits(bytes.data(), kHeaderChecksumOffset);
    bytes = encode_fixed(header);
    std::memcpy(out.data(), bytes.data(), bytes.size());
    return out;
}

Result<Image> decode_core(std::span<const uint8_t> bytes, std::string_view file) {
    if (bytes.size() > kMaxCoreBytes)
        return fault(EFBIG, file, kMaxCoreBytes,
                     fmt::format("{} bytes is more than the {} a core image may hold", bytes.size(),
                                 kMaxCoreBytes));
    auto header = CRIB_TRY(decode_header(bytes, file));

    Image image;
    DecodeState state;
    std::array<uint32_t, kCodecs.size()> seen{};
    size_t pos = kHeaderSize;
    for (uint32_t i = 0; i < header.record_count; ++i) {
        if (bytes.size() - pos < kRecordHeadSize)
            return fault(EBADMSG, file, pos,
                         fmt::format("record {} of {}: head needs {} bytes, {} left", i,
                                     header.record_count, kRecordHeadSize, bytes.size() - pos));
        auto head = decode_fixed<RecordHead>(bytes.subspan(pos, kRecordHeadSize), file, pos);
        const RecordCodec* codec = find_codec(head.tag);
        std::string name =
            codec ? fmt::format("'{}'", codec->name) : fmt::format("with tag {}", head.tag);
        size_t left = bytes.size() - pos - kRecordHeadSize;
        if (head.size > left)
            return fault(EBADMSG, file, pos,
                         fmt::format("record {} payload of {} bytes runs past the end ({} left)",
                                     name, head.size, left));
        auto payload = bytes.subspan(pos + kRecordHeadSize, head.size);
        uint64_t computed = record_checksum(head, payload);
        if (computed != head.checksum)
            return fault(EBADMSG, file, pos,
                         fmt::format("record {} checksum mismatch (stored {:#018x}, computed "
                                     "{:#018x})",
                                     name, head.checksum, computed));
        if (head.flags & ~kKnownRecordFlags)
            return fault(EBADMSG, file, pos,
                         fmt::format("record {} has unknown flags {:#x}", name, head.flags));
        if (!codec && !(head.flags & kRecordOptional))
            return fault(ENOTSUP, file, pos,
                         fmt::format("record with tag {} is mandatory and unknown to this crib "
                                     "(format {}); read it with a newer crib",
                                     head.tag, kFormatVersion));
        if (codec) {
            size_t index = size_t(codec - kCodecs.data());
            if (!codec->repeated && seen[index])
                return fault(EBADMSG, file, pos,
                             fmt::format("second '{}' record: there may be only one", codec->name));
            ++seen[index];
            CRIB_TRY(codec->decode(payload, pos, file, image, state));
        }
        pos += kRecordHeadSize + head.size;
    }
    if (pos != bytes.size())
        return fault(EBADMSG, file, pos,
                     fmt::format("{} bytes after the last of the {} records", bytes.size() - pos,
                                 header.record_count));
    for (size_t i = 0; i < kCodecs.size(); ++i)
        if (kCodecs[i].required && !seen[i])
            return fault(EBADMSG, file, pos,
                         fmt::format("no '{}' record: an image needs one", kCodecs[i].name));
    return image;
}

uint64_t saved_bytes(const Vma& vma) {
    uint64_t total = 0;
    for (const auto& run : vma.pages) total += run.length;
    return total;
}

}  // namespace crib::image
