#include "base/error.hpp"

#include <array>

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
    struct Name {
        int code;
        const char* name;
    };
    static constexpr std::array kNames{
        Name{EPERM, "EPERM"},
        Name{ENOENT, "ENOENT"},
        Name{ESRCH, "ESRCH"},
        Name{EINTR, "EINTR"},
        Name{EIO, "EIO"},
        Name{E2BIG, "E2BIG"},
        Name{ENOEXEC, "ENOEXEC"},
        Name{EBADF, "EBADF"},
        Name{EAGAIN, "EAGAIN"},
        Name{ENOMEM, "ENOMEM"},
        Name{EACCES, "EACCES"},
        Name{EFAULT, "EFAULT"},
        Name{EBUSY, "EBUSY"},
        Name{EEXIST, "EEXIST"},
        Name{ENODEV, "ENODEV"},
        Name{EINVAL, "EINVAL"},
        Name{ENOSPC, "ENOSPC"},
        Name{ERANGE, "ERANGE"},
        Name{ENOSYS, "ENOSYS"},
        Name{ELOOP, "ELOOP"},
        Name{ENOTSUP, "EOPNOTSUPP"},
        Name{EOVERFLOW, "EOVERFLOW"},
        Name{EINPROGRESS, "EINPROGRESS"},
        Name{ETIMEDOUT, "ETIMEDOUT"},
        Name{EBADMSG, "EBADMSG"},
    };
    for (const auto& entry : kNames)
        if (entry.code == code) return entry.name;
    return fmt::format("errno {}", code);
}

}  // namespace crib
