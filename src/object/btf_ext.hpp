// .BTF.ext: per-section func_info, line_info and CO-RE relocation records.
// libbpf's btf_ext is opaque in its public API, so crib reads the format
// itself; record offsets stay in bytes as in the ELF file.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/result.hpp"
#include "btf/btf.hpp"

namespace crib::object {

struct ExtFuncInfo {
    uint32_t insn_off;  // bytes into the section
    uint32_t type_id;
};

struct ExtLineInfo {
    uint32_t insn_off;
    uint32_t file_name_off;
    uint32_t line_off;
    uint32_t line_col;  // line << 10 | column
};

struct ExtCoreRelo {
    uint32_t insn_off;
    uint32_t type_id;
    uint32_t access_str_off;
    uint32_t kind;
};

template <typename Record>
struct ExtSection {
    std::string section;
    std::vector<Record> records;
};

struct BtfExt {
    std::vector<ExtSection<ExtFuncInfo>> func_info;
    std::vector<ExtSection<ExtLineInfo>> line_info;
    std::vector<ExtSection<ExtCoreRelo>> core_relos;
};

// Errors carry the byte offset inside .BTF.ext of the bad header or record.
Result<BtfExt> parse_btf_ext(std::span<const uint8_t> bytes, const btf::Btf& btf);

}  // namespace crib::object
