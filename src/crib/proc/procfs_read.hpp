// Small readers for /proc files the proc collectors share. Every error names
// the file it was reading.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

namespace crib::proc {

// The whole of a /proc file (they report size 0, so read until EOF).
Result<std::string> read_proc_file(const std::string& path);

// Target of a /proc symlink (exe, cwd, fd/N...).
Result<std::string> read_proc_link(const std::string& path);

// Thread ids of process `pid` from /proc/PID/task: the leader first, the
// others in ascending order.
Result<std::vector<pid_t>> list_threads(pid_t pid);

// The value of the line "Key:\t value" in a status-like file, without the
// key and surrounding blanks; nullopt when the key is absent.
std::optional<std::string_view> find_field(std::string_view text, std::string_view key);

// Space-separated words of `text`.
std::vector<std::string_view> split_words(std::string_view text);

// An unsigned number in the given base that must span all of `text`.
Result<uint64_t> parse_number(std::string_view text, int base, std::string_view what);

// One line of /proc/PID/maps.
struct MapsLine {
    uint64_t start = 0, end = 0;
    std::string perms;  // "rwxp" as printed
    uint64_t offset = 0;
    uint32_t major = 0, minor = 0;
    uint64_t inode = 0;
    std::string path;      // file path, [name], or empty
    std::string vm_flags;  // smaps "VmFlags" ("rd wr mr mw me gd ac"); read_smaps only
};

Result<std::vector<MapsLine>> read_maps(pid_t pid);
// The same lines from /proc/PID/smaps, with vm_flags.
Result<std::vector<MapsLine>> read_smaps(pid_t pid);

// The fields of /proc/PID/stat after "(comm)", numbered as in proc(5):
// field(3) is the state letter; comm is field 2.
class StatLine {
public:
    static Result<StatLine> read(pid_t pid);
    const std::string& comm() const { return m_comm; }
    char state() const { return m_state; }
    Result<uint64_t> field(size_t number) const;

private:
    std::string m_path;
    std::string m_comm;
    char m_state = 0;
    std::vector<std::string> m_fields;  // from field 3 on
};

}  // namespace crib::proc
