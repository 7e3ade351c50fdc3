// Malformed and hostile objects: each gets an error that says where, never
// a crash. Forged from the good test objects by patching bytes.
#include <gtest/gtest.h>

#include <random>

#include "object/object.hpp"
#include "object_test_util.hpp"

namespace crib::object {
namespace {

using testing::raw_section;
using testing::read_bytes;
using testing::write_section;

std::vector<uint8_t> good(const char* name = "object_calls.bpf.o") {
    auto bytes = read_bytes(testing::bpf_path(name));
    EXPECT_GT(bytes.size(), 1000u);
    return bytes;
}

std::string load_error(const std::vector<uint8_t>& bytes) {
    LoadOptions options;
    options.core_against_self = true;
    auto object = load_object(bytes, "x.o", options);
    EXPECT_FALSE(object);
    return object ? std::string() : object.error().to_string();
}

TEST(Malformed, TooShort) {
    auto bytes = good();
    bytes.resize(40);
    EXPECT_EQ(load_error(bytes), "obj 'x.o': file too short for an ELF header (40 bytes)");
}

TEST(Malformed, BadMagic) {
    auto bytes = good();
    bytes[1] = 'X';
    EXPECT_EQ(load_error(bytes), "obj 'x.o': offset 0x0: bad ELF magic");
}

TEST(Malformed, TruncatedFile) {
    auto bytes = good();
    bytes.resize(bytes.size() / 2);
    std::string message = load_error(bytes);
    EXPECT_NE(message.find("obj 'x.o': offset 0x28: section header table"), std::string::npos)
        << message;
    EXPECT_NE(message.find("past the end of the file"), std::string::npos) << message;
}

TEST(Malformed, SectionDataOutOfRange) {
    auto bytes = good();
    auto text = raw_section(bytes, ".text");
    ASSERT_TRUE(text);
    text->header.sh_offset = bytes.size() - 8;
    write_section(bytes, *text);
    std::string message = load_error(bytes);
    EXPECT_EQ(message, fmt::format("obj 'x.o': offset {:#x}: section #{} data ({} bytes at {:#x}) "
                                   "is past the end of the file ({} bytes)",
                                   text->header_offset, text->index, text->header.sh_size,
                                   text->header.sh_offset, bytes.size()));
}

TEST(Malformed, OverlappingSections) {
    auto bytes = good();
    auto text = raw_section(bytes, ".text");
    auto crib = raw_section(bytes, "crib");
    ASSERT_TRUE(text && crib);
    crib->header.sh_offset = text->header.sh_offset;
    write_section(bytes, *crib);
    std::string message = load_error(bytes);
    EXPECT_NE(message.find("overlaps section"), std::string::npos) << message;
    EXPECT_NE(message.find(fmt::format("offset {:#x}", text->header.sh_offset)), std::string::npos)
        << message;
}

TEST(Malformed, RelocationWithBadSymbol) {
    auto bytes = good();
    auto rel = raw_section(bytes, ".relcrib");
    ASSERT_TRUE(rel);
    Elf64_Rel entry;
    size_t at = rel->header.sh_offset + sizeof(Elf64_Rel);  // the second relocation
    std::memcpy(&entry, bytes.data() + at, sizeof(entry));
    entry.r_info = ELF64_R_INFO(99, ELF64_R_TYPE(entry.r_info));
    std::memcpy(bytes.data() + at, &entry, sizeof(entry));
    std::string message = load_error(bytes);
    EXPECT_NE(message.find(
                  "obj 'x.o': sec '.relcrib': reloc 1: offset 0x10: symbol index 99 out of range"),
              std::string::npos)
        << message;
}

// Found by fuzz_object_load: an lddw relocated against a symbol in
// SHN_ABS made the loader index past the section table.
TEST(Malformed, LddwAgainstAbsoluteSymbol) {
    auto bytes = good("object_maps.bpf.o");
    Elf64_Ehdr eh = testing::elf_header(bytes);
    auto symtab = testing::raw_section(bytes, ".symtab");
    ASSERT_TRUE(symtab);
    bool patched = false;
    for (size_t i = 0; i < eh.e_shnum && !patched; ++i) {
        Elf64_Shdr rel;
        std::memcpy(&rel, bytes.data() + eh.e_shoff + i * sizeof(rel), sizeof(rel));
        if (rel.sh_type != SHT_REL) continue;
        Elf64_Shdr code;
        std::memcpy(&code, bytes.data() + eh.e_shoff + rel.sh_info * sizeof(code), sizeof(code));
        if (!(code.sh_flags & SHF_EXECINSTR)) continue;
        for (size_t at = rel.sh_offset;
             at + sizeof(Elf64_Rel) <= rel.sh_offset + rel.sh_size && !patched;
             at += sizeof(Elf64_Rel)) {
            Elf64_Rel entry;
            std::memcpy(&entry, bytes.data() + at, sizeof(entry));
            if (bytes[code.sh_offset + entry.r_offset] != 0x18) continue;  // not an lddw
            size_t sym_at =
                symtab->header.sh_offset + ELF64_R_SYM(entry.r_info) * sizeof(Elf64_Sym);
            Elf64_Sym sym;
            std::memcpy(&sym, bytes.data() + sym_at, sizeof(sym));
            sym.st_shndx = SHN_ABS;
            std::memcpy(bytes.data() + sym_at, &sym, sizeof(sym));
            patched = true;
        }
    }
    ASSERT_TRUE(patched) << "object_maps.bpf.o has no lddw relocation";
    std::string message = load_error(bytes);
    EXPECT_NE(message.find("is in special section #0xfff1, not in data or code"), std::string::npos)
        << message;
}

// Found by fuzz_object_load: a forged .bss size became a 4 GiB allocation.
TEST(Malformed, HugeBss) {
    auto bytes = good("object_maps.bpf.o");
    auto bss = testing::raw_section(bytes, ".bss");
    ASSERT_TRUE(bss);
    bss->header.sh_size = 1ull << 32;
    testing::write_section(bytes, *bss);
    std::string message = load_error(bytes);
    EXPECT_NE(
        message.find("sec '.bss': global data section of 4294967296 bytes is over crib's limit"),
        std::string::npos)
        << message;
}

TEST(Malformed, RelocationOnWrongInstruction) {
    auto bytes = good();
    auto rel = raw_section(bytes, ".relcrib");
    ASSERT_TRUE(rel);
    Elf64_Rel entry;
    std::memcpy(&entry, bytes.data() + rel->header.sh_offset, sizeof(entry));
    entry.r_offset = 0;  // run_crib starts with a mov, not an lddw or call
    std::memcpy(bytes.data() + rel->header.sh_offset, &entry, sizeof(entry));
    std::string message = load_error(bytes);
    EXPECT_NE(message.find("sec '.relcrib': insn 0: reloc 0: relocation against"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("expected lddw or call"), std::string::npos) << message;
}

TEST(Malformed, MapWithBadType) {
    auto object = load_object_file(testing::bpf_path("object_bad_map.bpf.o"));
    ASSERT_FALSE(object);
    EXPECT_EQ(
        object.error().to_string(),
        "obj 'object_bad_map.bpf.o': sec '.maps': offset 0x20: map 'bad': attribute 'type' must be "
        "__uint() (a pointer to an array), is int");
}

TEST(Malformed, BadBtfExtMagic) {
    auto bytes = good();
    auto ext = raw_section(bytes, ".BTF.ext");
    ASSERT_TRUE(ext);
    bytes[ext->header.sh_offset] = 0;
    std::string message = load_error(bytes);
    EXPECT_NE(message.find("sec '.BTF.ext': offset 0x0: bad .BTF.ext magic"), std::string::npos)
        << message;
}

TEST(Malformed, BadBtf) {
    auto bytes = good();
    auto btf = raw_section(bytes, ".BTF");
    ASSERT_TRUE(btf);
    bytes[btf->header.sh_offset] = 0;
    std::string message = load_error(bytes);
    EXPECT_NE(message.find("sec '.BTF': invalid BTF"), std::string::npos) << message;
    // libbpf's own explanation is kept in the message, not printed.
    EXPECT_NE(message.find("(Invalid BTF magic"), std::string::npos) << message;
}

TEST(Malformed, HugeBtfExtCount) {
    auto bytes = good();
    auto ext = raw_section(bytes, ".BTF.ext");
    ASSERT_TRUE(ext);
    // The first func_info section's record count, right after rec_size.
    uint32_t header_len, func_off;
    std::memcpy(&header_len, bytes.data() + ext->header.sh_offset + 4, 4);
    std::memcpy(&func_off, bytes.data() + ext->header.sh_offset + 8, 4);
    uint32_t huge = 0x7fffffff;
    std::memcpy(bytes.data() + ext->header.sh_offset + header_len + func_off + 8, &huge, 4);
    std::string message = load_error(bytes);
    EXPECT_NE(message.find("sec '.BTF.ext'"), std::string::npos) << message;
    EXPECT_NE(message.find("records of 8 bytes do not fit"), std::string::npos) << message;
}

// Random corruption: any outcome but a crash (or a sanitizer report) is fine.
TEST(Malformed, RandomCorruptionNeverCrashes) {
    std::mt19937 rng(12345);
    for (const char* name : {"object_calls.bpf.o", "object_maps.bpf.o", "object_core.bpf.o"}) {
        auto original = good(name);
        for (int round = 0; round < 400; ++round) {
            auto bytes = original;
            int flips = 1 + static_cast<int>(rng() % 8);
            for (int i = 0; i < flips; ++i)
                bytes[rng() % bytes.size()] = static_cast<uint8_t>(rng());
            if (round % 50 == 0) bytes.resize(rng() % bytes.size());
            LoadOptions options;
            options.core_against_self = true;
            auto object = load_object(bytes, name, options);
            if (!object) {
                EXPECT_FALSE(object.error().message().empty());
            }
        }
    }
}

}  // namespace
}  // namespace crib::object
