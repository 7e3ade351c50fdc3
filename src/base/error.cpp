#include "base/error.hpp"

#include <cstring>

namespace crib {

Error& Error::in_object(std::string name) {
    if (m_loc.object.empty()) m_loc.object = std::move(name);
    return *this;
}

Error& Error::in_section(std::string name) {
    if (m_loc.section.empty()) m_loc.section = std::move(name);
    return *this;
}

Error& Error::in_program(std::string name) {
    if (m_loc.program.empty()) m_loc.program = std::move(name);
    return *this;
}

Error& Error::at_insn(int64_t index) {
    if (!m_loc.insn) m_loc.insn = index;
    return *this;
}

Error& Error::at_offset(uint64_t offset) {
    if (!m_loc.offset) m_loc.offset = offset;
    return *this;
}

std::string Error::to_string() const {
    std::string out;
    if (!m_loc.object.empty()) out += fmt::format("obj '{}': ", m_loc.object);
    if (!m_loc.section.empty()) out += fmt::format("sec '{}': ", m_loc.section);
    if (!m_loc.program.empty()) out += fmt::format("prog '{}': ", m_loc.program);
    if (m_loc.insn) out += fmt::format("insn {}: ", *m_loc.insn);
    if (m_loc.relocation) out += fmt::format("reloc {}: ", *m_loc.relocation);
    if (m_loc.offset) out += fmt::format("offset {:#x}: ", *m_loc.offset);
    out += m_message;
    return out;
}

std::string errno_name(int code) {
    // glibc (2.32+) names every errno the kernel returns.
    if (const char* name = strerrorname_np(code)) return name;
    return fmt::format("errno {}", code);
}

}  // namespace crib
