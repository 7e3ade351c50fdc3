#include "object/btf_ext.hpp"

#include <cstring>

namespace crib::object {
namespace {

constexpr uint16_t kMagic = 0xeB9F;
constexpr uint32_t kMinHeader = 24;   // up to line_info_len
constexpr uint32_t kCoreHeader = 32;  // with core_relo_off/len

uint32_t read_u32(std::span<const uint8_t> bytes, size_t at) {
    uint32_t value;
    std::memcpy(&value, bytes.data() + at, sizeof(value));
    return value;
}

// One info block: rec_size, then per section {name_off, count, records}.
template <typename Record>
Result<std::vector<ExtSection<Record>>> parse_block(std::span<const uint8_t> bytes, uint32_t start,
                                                    uint32_t offset, uint32_t length,
                                                    const btf::Btf& btf, std::string_view what) {
    std::vector<ExtSection<Record>> out;
    if (length == 0) return out;
    uint64_t begin = uint64_t{start} + offset;
    if (begin > bytes.size() || length > bytes.size() - begin)
        return std::move(make_error(EINVAL, "{} ({} bytes at {}) is past the end of .BTF.ext", what,
                                    length, offset)
                             .at_offset(start));
    auto block = bytes.subspan(begin, length);
    auto fail = [&](size_t at, std::string message) {
        return std::move(make_error(EINVAL, "{}: {}", what, message).at_offset(begin + at));
    };
    if (block.size() < 4) return fail(0, "too short for a record size");
    uint32_t rec_size = read_u32(block, 0);
    if (rec_size < sizeof(Record) || rec_size % 4 != 0 || rec_size > 1024)
        return fail(0, fmt::format("bad record size {}", rec_size));
    size_t at = 4;
    while (at < block.size()) {
        if (block.size() - at < 8) return fail(at, "truncated section header");
        uint32_t name_off = read_u32(block, at);
        uint32_t count = read_u32(block, at + 4);
        std::string_view name = btf.string_at(name_off);
        if (name.empty()) return fail(at, fmt::format("bad section name offset {}", name_off));
        at += 8;
        // Bound the count by the bytes present before allocating for it.
        if (count == 0 || uint64_t{count} * rec_size > block.size() - at)
            return fail(at - 4, fmt::format("section '{}': {} records of {} bytes do not fit", name,
                                            count, rec_size));
        ExtSection<Record> section{std::string(name), {}};
        section.records.resize(count);
        for (uint32_t i = 0; i < count; ++i, at += rec_size)
            std::memcpy(&section.records[i], block.data() + at, sizeof(Record));
        out.push_back(std::move(section));
    }
    return out;
}

}  // namespace

Result<BtfExt> parse_btf_ext(std::span<const uint8_t> bytes, const btf::Btf& btf) {
    if (bytes.size() < kMinHeader)
        return make_error(EINVAL, ".BTF.ext too short ({} bytes)", bytes.size());
    uint16_t magic;
    std::memcpy(&magic, bytes.data(), sizeof(magic));
    if (magic != kMagic)
        return std::move(make_error(EINVAL, "bad .BTF.ext magic {:#x}", magic).at_offset(0));
    if (bytes[2] != 1)
        return std::move(
            make_error(EINVAL, "unsupported .BTF.ext version {}", bytes[2]).at_offset(2));
    uint32_t header_len = read_u32(bytes, 4);
    if (header_len < kMinHeader || header_len > bytes.size())
        return std::move(
            make_error(EINVAL, "bad .BTF.ext header length {}", header_len).at_offset(4));
    BtfExt ext;
    ext.func_info = CRIB_TRY(parse_block<ExtFuncInfo>(bytes, header_len, read_u32(bytes, 8),
                                                      read_u32(bytes, 12), btf, "func_info"));
    ext.line_info = CRIB_TRY(parse_block<ExtLineInfo>(bytes, header_len, read_u32(bytes, 16),
                                                      read_u32(bytes, 20), btf, "line_info"));
    if (header_len >= kCoreHeader)
        ext.core_relos = CRIB_TRY(parse_block<ExtCoreRelo>(bytes, header_len, read_u32(bytes, 24),
                                                           read_u32(bytes, 28), btf, "core_relo"));
    return ext;
}

}  // namespace crib::object
