// Errors as values: an errno-style code, a message, and where it happened.
#pragma once

#include <cerrno>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include <fmt/format.h>

namespace crib {

// Where an error happened, from the outermost thing (object) inward. Unset
// parts are left out when printed.
struct Loc {
    std::string object;
    std::string section;
    std::string program;
    std::optional<int64_t> insn;
    std::optional<int64_t> relocation;
    std::optional<uint64_t> offset;  // byte offset in the section or file
};

class Error {
public:
    Error(int code, std::string message, Loc loc = {})
        : m_code(code), m_message(std::move(message)), m_loc(std::move(loc)) {}

    int code() const { return m_code; }
    const std::string& message() const { return m_message; }
    const Loc& loc() const { return m_loc; }
    Loc& loc() { return m_loc; }

    // Fill in the parts of the location an inner layer did not know.
    Error& in_object(std::string name);
    Error& in_section(std::string name);
    Error& in_program(std::string name);
    Error& at_insn(int64_t index);
    Error& at_offset(uint64_t offset);

    // `obj 'x.o': sec 'crib': prog 'dump_task': insn 12: message`
    std::string to_string() const;

private:
    int m_code;
    std::string m_message;
    Loc m_loc;
};

template <typename... Args>
Error make_error(int code, fmt::format_string<Args...> format, Args&&... args) {
    return Error(code, fmt::format(format, std::forward<Args>(args)...));
}

// Name of an errno value as the kernel spells it ("EINVAL"), or its number.
std::string errno_name(int code);

}  // namespace crib
