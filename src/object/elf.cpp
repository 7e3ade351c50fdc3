#include "object/elf.hpp"

#include <elf.h>
#include <gelf.h>
#include <libelf.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace crib::object {
namespace {

#ifndef EM_BPF
constexpr uint16_t EM_BPF = 247;
#endif

// A sane object has tens of sections; the cap keeps a hostile header from
// asking for gigabytes of bookkeeping before anything else is checked.
constexpr size_t kMaxSections = 1u << 16;

struct ElfCloser {
    void operator()(Elf* elf) const { elf_end(elf); }
};

bool range_ok(uint64_t offset, uint64_t size, uint64_t limit) {
    return offset <= limit && size <= limit - offset;
}

// A NUL-terminated string at `offset` inside `table`, or an error.
Result<std::string> string_in(std::span<const uint8_t> table, uint64_t offset) {
    if (offset >= table.size()) return make_error(EINVAL, "string offset {} out of range", offset);
    const auto* begin = table.data() + offset;
    const void* end = std::memchr(begin, 0, table.size() - offset);
    if (!end) return make_error(EINVAL, "string at {} is not terminated", offset);
    return std::string(reinterpret_cast<const char*>(begin),
                       static_cast<const uint8_t*>(end) - begin);
}

Error elf_error(std::string_view what) {
    return make_error(EINVAL, "{}: {}", what, elf_errmsg(-1));
}

}  // namespace

bool Section::executable() const {
    return type == SHT_PROGBITS && (flags & SHF_EXECINSTR);
}

Error section_error(const Section& section, Error error) {
    error.in_section(section.name.empty() ? fmt::format("#{}", section.index) : section.name);
    return error;
}

const Section* ElfFile::find_section(std::string_view name) const {
    for (const auto& section : m_sections)
        if (section.name == name) return &section;
    return nullptr;
}

Result<ElfFile> ElfFile::open(std::span<const uint8_t> bytes) {
    // Check the header ourselves first so the common malformations get a
    // precise message rather than libelf's generic one.
    if (bytes.size() < sizeof(Elf64_Ehdr))
        return make_error(EINVAL, "file too short for an ELF header ({} bytes)", bytes.size());
    if (std::memcmp(bytes.data(), ELFMAG, SELFMAG) != 0)
        return std::move(make_error(EINVAL, "bad ELF magic").at_offset(0));
    Elf64_Ehdr header;
    std::memcpy(&header, bytes.data(), sizeof(header));
    if (header.e_ident[EI_CLASS] != ELFCLASS64)
        return std::move(make_error(EINVAL, "not a 64-bit ELF file").at_offset(EI_CLASS));
    if (header.e_ident[EI_DATA] != ELFDATA2LSB)
        return std::move(make_error(EINVAL, "not a little-endian ELF file").at_offset(EI_DATA));
    if (header.e_machine != EM_BPF)
        return std::move(
            make_error(EINVAL, "ELF machine {} is not BPF ({})", header.e_machine, EM_BPF)
                .at_offset(offsetof(Elf64_Ehdr, e_machine)));
    if (header.e_type != ET_REL)
        return std::move(
            make_error(EINVAL, "ELF type {} is not a relocatable object", header.e_type)
                .at_offset(offsetof(Elf64_Ehdr, e_type)));
    if (header.e_shentsize != sizeof(Elf64_Shdr))
        return std::move(make_error(EINVAL, "section header size {} is not {}", header.e_shentsize,
                                    sizeof(Elf64_Shdr))
                             .at_offset(offsetof(Elf64_Ehdr, e_shentsize)));
    if (header.e_shnum != 0 &&
        !range_ok(header.e_shoff, uint64_t{header.e_shnum} * sizeof(Elf64_Shdr), bytes.size()))
        return std::move(
            make_error(
                EINVAL,
                "section header table ({} entries at {:#x}) is past the end of the file ({} bytes)",
                header.e_shnum, header.e_shoff, bytes.size())
                .at_offset(offsetof(Elf64_Ehdr, e_shoff)));

    if (header.e_shoff % alignof(Elf64_Shdr) != 0)
        return std::move(
            make_error(EINVAL, "section header table offset {:#x} is not aligned", header.e_shoff)
                .at_offset(offsetof(Elf64_Ehdr, e_shoff)));

    ElfFile file;
    file.m_bytes.assign(bytes.begin(), bytes.end());
    elf_version(EV_CURRENT);
    std::unique_ptr<Elf, ElfCloser> elf(
        elf_memory(reinterpret_cast<char*>(file.m_bytes.data()), file.m_bytes.size()));
    if (!elf) return elf_error("libelf cannot open the file");
    if (elf_kind(elf.get()) != ELF_K_ELF) return make_error(EINVAL, "not an ELF file");

    size_t count = 0, names_index = 0;
    if (elf_getshdrnum(elf.get(), &count) != 0) return elf_error("cannot read the section count");
    if (count > kMaxSections || !range_ok(header.e_shoff, count * sizeof(Elf64_Shdr), bytes.size()))
        return std::move(make_error(EINVAL, "section count {} does not fit the file", count)
                             .at_offset(offsetof(Elf64_Ehdr, e_shnum)));
    if (elf_getshdrstrndx(elf.get(), &names_index) != 0)
        return elf_error("cannot read the section name table index");
    if (count == 0) return make_error(EINVAL, "object has no sections");
    if (names_index >= count)
        return std::move(make_error(EINVAL,
                                    "section name table index {} out of range ({} sections)",
                                    names_index, count)
                             .at_offset(offsetof(Elf64_Ehdr, e_shstrndx)));

    file.m_sections.resize(count);
    for (size_t i = 0; i < count; ++i) {
        Elf_Scn* scn = elf_getscn(elf.get(), i);
        GElf_Shdr copy;
        GElf_Shdr* shdr = scn ? gelf_getshdr(scn, &copy) : nullptr;
        uint64_t where = header.e_shoff + i * sizeof(Elf64_Shdr);
        if (!shdr)
            return std::move(elf_error(fmt::format("section #{}: bad header", i)).at_offset(where));
        Section& s = file.m_sections[i];
        s.index = i;
        s.type = shdr->sh_type;
        s.flags = shdr->sh_flags;
        s.offset = shdr->sh_offset;
        s.size = shdr->sh_size;
        s.link = shdr->sh_link;
        s.info = shdr->sh_info;
        s.entsize = shdr->sh_entsize;
        s.name = fmt::format("#{}", i);
        if (s.type != SHT_NOBITS && s.type != SHT_NULL) {
            if (!range_ok(s.offset, s.size, bytes.size()))
                return std::move(make_error(EINVAL,
                                            "section #{} data ({} bytes at {:#x}) is past the end "
                                            "of the file ({} bytes)",
                                            i, s.size, s.offset, bytes.size())
                                     .at_offset(where));
            s.data = std::span<const uint8_t>(file.m_bytes.data() + s.offset, s.size);
        }
    }
    // Names only after every range is known good: the name table is a section too.
    const Section& names = file.m_sections[names_index];
    if (names.type != SHT_STRTAB)
        return std::move(
            make_error(EINVAL, "section name table #{} is not a string table", names_index)
                .at_offset(offsetof(Elf64_Ehdr, e_shstrndx)));
    for (size_t i = 1; i < count; ++i) {
        GElf_Shdr shdr;
        if (!gelf_getshdr(elf_getscn(elf.get(), i), &shdr))
            return elf_error("cannot reread a section header");
        auto name = string_in(names.data, shdr.sh_name);
        if (!name)
            return std::move(std::move(name)
                                 .error()
                                 .in_section(fmt::format("#{}", i))
                                 .at_offset(header.e_shoff + i * sizeof(Elf64_Shdr)));
        file.m_sections[i].name = std::move(*name);
    }

    // Overlapping section contents mean a forged file; refuse rather than
    // let two views alias.
    std::vector<const Section*> placed;
    for (const auto& s : file.m_sections)
        if (!s.data.empty()) placed.push_back(&s);
    std::sort(placed.begin(), placed.end(),
              [](const Section* a, const Section* b) { return a->offset < b->offset; });
    for (size_t i = 1; i < placed.size(); ++i)
        if (placed[i - 1]->offset + placed[i - 1]->size > placed[i]->offset)
            return std::move(
                section_error(*placed[i], make_error(EINVAL, "section data overlaps section '{}'",
                                                     placed[i - 1]->name))
                    .at_offset(placed[i]->offset));

    const Section* symtab = nullptr;
    for (const auto& s : file.m_sections) {
        if (s.type != SHT_SYMTAB) continue;
        if (symtab) return section_error(s, make_error(EINVAL, "more than one symbol table"));
        symtab = &s;
    }
    if (!symtab) return make_error(EINVAL, "object has no symbol table");
    if (symtab->entsize != sizeof(Elf64_Sym) || symtab->size % sizeof(Elf64_Sym) != 0)
        return section_error(*symtab, make_error(EINVAL, "bad symbol entry size {} for {} bytes",
                                                 symtab->entsize, symtab->size));
    if (symtab->link >= count || file.m_sections[symtab->link].type != SHT_STRTAB)
        return section_error(
            *symtab,
            make_error(EINVAL, "symbol string table #{} is not a string table", symtab->link));
    std::span<const uint8_t> strings = file.m_sections[symtab->link].data;
    size_t symbol_count = symtab->size / sizeof(Elf64_Sym);
    file.m_symbols.resize(symbol_count);
    for (size_t i = 0; i < symbol_count; ++i) {
        Elf64_Sym raw;
        std::memcpy(&raw, symtab->data.data() + i * sizeof(raw), sizeof(raw));
        Symbol& sym = file.m_symbols[i];
        sym.index = i;
        sym.bind = ELF64_ST_BIND(raw.st_info);
        sym.type = ELF64_ST_TYPE(raw.st_info);
        sym.visibility = ELF64_ST_VISIBILITY(raw.st_other);
        sym.shndx = raw.st_shndx;
        sym.value = raw.st_value;
        sym.size = raw.st_size;
        if (raw.st_name != 0) {
            auto name = string_in(strings, raw.st_name);
            if (!name)
                return section_error(
                    *symtab, std::move(std::move(name).error().at_offset(i * sizeof(Elf64_Sym))));
            sym.name = std::move(*name);
        }
        if (sym.type == STT_SECTION && sym.shndx < count)
            sym.name = file.m_sections[sym.shndx].name;
        if (sym.shndx != SHN_UNDEF && sym.shndx < SHN_LORESERVE && sym.shndx >= count)
            return std::move(
                section_error(*symtab, make_error(EINVAL, "symbol '{}' names section #{} of {}",
                                                  sym.name, sym.shndx, count))
                    .at_offset(i * sizeof(Elf64_Sym)));
    }
    return file;
}

Result<std::vector<Relocation>> ElfFile::relocations(const Section& rel) const {
    if (rel.type != SHT_REL)
        return section_error(
            rel, make_error(EINVAL, "unsupported relocation section type {}", rel.type));
    if (rel.entsize != sizeof(Elf64_Rel) || rel.size % sizeof(Elf64_Rel) != 0)
        return section_error(rel, make_error(EINVAL, "bad relocation entry size {} for {} bytes",
                                             rel.entsize, rel.size));
    if (rel.info >= m_sections.size())
        return section_error(
            rel, make_error(EINVAL, "relocates section #{} of {}", rel.info, m_sections.size()));
    const Section& target = m_sections[rel.info];
    std::vector<Relocation> out(rel.size / sizeof(Elf64_Rel));
    for (size_t i = 0; i < out.size(); ++i) {
        Elf64_Rel raw;
        std::memcpy(&raw, rel.data.data() + i * sizeof(raw), sizeof(raw));
        out[i] = Relocation{raw.r_offset, static_cast<uint32_t>(ELF64_R_SYM(raw.r_info)),
                            static_cast<uint32_t>(ELF64_R_TYPE(raw.r_info))};
        auto fail = [&](Error error) {
            error.loc().relocation = static_cast<int64_t>(i);
            return section_error(rel, std::move(error.at_offset(i * sizeof(Elf64_Rel))));
        };
        if (out[i].symbol >= m_symbols.size())
            return fail(make_error(EINVAL, "symbol index {} out of range ({} symbols)",
                                   out[i].symbol, m_symbols.size()));
        if (out[i].offset >= target.size)
            return fail(make_error(EINVAL, "offset {:#x} is outside section '{}' ({} bytes)",
                                   out[i].offset, target.name, target.size));
    }
    return out;
}

}  // namespace crib::object
