// The ELF layer: a validated view of sections, symbols and relocations.
// Every offset and size is checked against the file before anything reads
// through it, so later phases index spans, never raw file offsets.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/result.hpp"

namespace crib::object {

struct Section {
    size_t index = 0;
    std::string name;
    uint32_t type = 0;  // SHT_*
    uint64_t flags = 0;
    uint64_t offset = 0;
    uint64_t size = 0;
    uint32_t link = 0;
    uint32_t info = 0;
    uint64_t entsize = 0;
    std::span<const uint8_t> data;  // empty for SHT_NOBITS

    bool executable() const;
};

struct Symbol {
    size_t index = 0;
    std::string name;
    uint8_t bind = 0;  // STB_*
    uint8_t type = 0;  // STT_*
    uint8_t visibility = 0;
    uint16_t shndx = 0;
    uint64_t value = 0;
    uint64_t size = 0;
};

struct Relocation {
    uint64_t offset;  // in the target section
    uint32_t symbol;
    uint32_t type;  // R_BPF_*
};

class ElfFile {
public:
    // Validates the header, section table and symbol table. `bytes` is
    // copied; spans handed out point into the copy.
    static Result<ElfFile> open(std::span<const uint8_t> bytes);

    const std::vector<Section>& sections() const { return m_sections; }
    const std::vector<Symbol>& symbols() const { return m_symbols; }
    const Section* find_section(std::string_view name) const;
    // The relocations of a SHT_REL section, each checked for a valid symbol
    // and an offset inside the section it applies to.
    Result<std::vector<Relocation>> relocations(const Section& rel) const;

private:
    std::vector<uint8_t> m_bytes;
    std::vector<Section> m_sections;
    std::vector<Symbol> m_symbols;
};

// Error helpers that fill the location the way every phase reports it.
Error section_error(const Section& section, Error error);

}  // namespace crib::object
