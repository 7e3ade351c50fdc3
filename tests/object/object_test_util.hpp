// Shared helpers for the object loader tests.
#pragma once

#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "object/object.hpp"

namespace crib::object::testing {

inline std::string bpf_path(const std::string& name) {
    return std::string(CRIB_BPF_DIR) + "/" + name;
}

inline std::vector<uint8_t> read_bytes(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Object loaded against its own BTF, so tests do not depend on the host kernel.
inline Result<Object> load_test_object(const std::string& name) {
    LoadOptions options;
    options.core_against_self = true;
    return load_object_file(bpf_path(name), options);
}

}  // namespace crib::object::testing

#include <elf.h>

#include <cstring>
#include <optional>

namespace crib::object::testing {

// Raw ELF surgery for malformed-object tests: these deliberately bypass the
// loader to forge what a hostile file could contain.
struct RawSection {
    size_t index;
    size_t header_offset;  // of its Elf64_Shdr in the file
    Elf64_Shdr header;
};

inline Elf64_Ehdr elf_header(const std::vector<uint8_t>& bytes) {
    Elf64_Ehdr header;
    std::memcpy(&header, bytes.data(), sizeof(header));
    return header;
}

inline std::optional<RawSection> raw_section(const std::vector<uint8_t>& bytes,
                                             std::string_view name) {
    Elf64_Ehdr eh = elf_header(bytes);
    Elf64_Shdr names;
    std::memcpy(&names, bytes.data() + eh.e_shoff + eh.e_shstrndx * sizeof(Elf64_Shdr),
                sizeof(names));
    for (size_t i = 0; i < eh.e_shnum; ++i) {
        RawSection s{i, eh.e_shoff + i * sizeof(Elf64_Shdr), {}};
        std::memcpy(&s.header, bytes.data() + s.header_offset, sizeof(s.header));
        if (name ==
            reinterpret_cast<const char*>(bytes.data() + names.sh_offset + s.header.sh_name))
            return s;
    }
    return std::nullopt;
}

inline void write_section(std::vector<uint8_t>& bytes, const RawSection& s) {
    std::memcpy(bytes.data() + s.header_offset, &s.header, sizeof(s.header));
}

}  // namespace crib::object::testing
