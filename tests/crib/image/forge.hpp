// Forging core.img bytes by hand, from the layout docs/image-format.md gives
// (not from the encoder): for the damage tests and the fuzz target.
#pragma once

#include <xxhash.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace crib::image::test_data {

using Bytes = std::vector<uint8_t>;

constexpr size_t kHeaderSize = 32;
constexpr size_t kHeadSize = 16;

template <typename T>
T get(const Bytes& bytes, size_t offset) {
    T value;
    std::memcpy(&value, bytes.data() + offset, sizeof value);
    return value;
}

template <typename T>
void set(Bytes& bytes, size_t offset, T value) {
    std::memcpy(bytes.data() + offset, &value, sizeof value);
}

// Header fields after an edit: body size from the file's length, checksum
// over the 24 bytes before it.
inline void reseal_header(Bytes& bytes, uint32_t record_count) {
    set<uint32_t>(bytes, 12, record_count);
    set<uint64_t>(bytes, 16, bytes.size() - kHeaderSize);
    set<uint64_t>(bytes, 24, XXH3_64bits(bytes.data(), 24));
}

struct RecordAt {
    size_t offset;
    uint16_t tag;
    uint32_t size;
};

inline std::vector<RecordAt> records_of(const Bytes& bytes) {
    std::vector<RecordAt> out;
    for (size_t pos = kHeaderSize; pos + kHeadSize <= bytes.size();) {
        RecordAt record{pos, get<uint16_t>(bytes, pos), get<uint32_t>(bytes, pos + 4)};
        out.push_back(record);
        pos += kHeadSize + record.size;
    }
    return out;
}

// The payload checksum is seeded with the head's first 8 bytes.
inline void reseal_record(Bytes& bytes, size_t offset) {
    uint64_t seed = get<uint64_t>(bytes, offset);
    uint32_t size = get<uint32_t>(bytes, offset + 4);
    set<uint64_t>(bytes, offset + 8,
                  XXH3_64bits_withSeed(bytes.data() + offset + kHeadSize, size, seed));
}

inline Bytes make_record(uint16_t tag, uint16_t flags, const Bytes& payload) {
    Bytes record(kHeadSize + payload.size());
    set<uint16_t>(record, 0, tag);
    set<uint16_t>(record, 2, flags);
    set<uint32_t>(record, 4, uint32_t(payload.size()));
    std::copy(payload.begin(), payload.end(), record.begin() + kHeadSize);
    reseal_record(record, 0);
    return record;
}

inline uint32_t record_count(const Bytes& bytes) {
    return get<uint32_t>(bytes, 12);
}

// Every checksum recomputed over whatever the bytes hold, so that a fuzzer's
// mutations get past the checksums to the field decoders. Records are walked
// as far as their sizes allow; the header then counts those.
inline void reseal_all(Bytes& bytes) {
    if (bytes.size() < kHeaderSize) return;
    auto records = records_of(bytes);
    uint32_t whole = 0;
    for (const auto& record : records) {
        if (record.size > bytes.size() - record.offset - kHeadSize) break;
        reseal_record(bytes, record.offset);
        ++whole;
    }
    reseal_header(bytes, whole);
}

}  // namespace crib::image::test_data
