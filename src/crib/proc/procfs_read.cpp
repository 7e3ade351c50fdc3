#include "crib/proc/procfs_read.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

namespace crib::proc {

Result<std::string> read_proc_file(const std::string& path) {
    int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return make_error(errno, "open {}: {}", path, std::strerror(errno));
    std::string text;
    char buffer[4096];
    for (;;) {
        ssize_t got = read(fd, buffer, sizeof(buffer));
        if (got < 0) {
            if (errno == EINTR) continue;
            int saved = errno;
            close(fd);
            return make_error(saved, "read {}: {}", path, std::strerror(saved));
        }
        if (got == 0) break;
        text.append(buffer, static_cast<size_t>(got));
    }
    close(fd);
    return text;
}

Result<std::string> read_proc_link(const std::string& path) {
    std::string target(4096, '\0');
    ssize_t got = readlink(path.c_str(), target.data(), target.size());
    if (got < 0) return make_error(errno, "readlink {}: {}", path, std::strerror(errno));
    target.resize(static_cast<size_t>(got));
    return target;
}

Result<std::vector<pid_t>> list_threads(pid_t pid) {
    std::string path = "/proc/" + std::to_string(pid) + "/task";
    DIR* dir = opendir(path.c_str());
    if (!dir) return make_error(errno, "opendir {}: {}", path, std::strerror(errno));
    std::vector<pid_t> tids;
    while (dirent* entry = readdir(dir)) {
        pid_t tid = 0;
        const char* end = entry->d_name + std::strlen(entry->d_name);
        auto [ptr, ec] = std::from_chars(entry->d_name, end, tid);
        if (ec == std::errc() && ptr == end && tid != pid) tids.push_back(tid);
    }
    closedir(dir);
    std::sort(tids.begin(), tids.end());
    tids.insert(tids.begin(), pid);
    return tids;
}

std::optional<std::string_view> find_field(std::string_view text, std::string_view key) {
    size_t at = 0;
    while (at < text.size()) {
        size_t end = text.find('\n', at);
        if (end == std::string_view::npos) end = text.size();
        std::string_view line = text.substr(at, end - at);
        if (line.size() > key.size() && line.substr(0, key.size()) == key &&
            line[key.size()] == ':') {
            std::string_view value = line.substr(key.size() + 1);
            size_t first = value.find_first_not_of(" \t");
            if (first == std::string_view::npos) return std::string_view{};
            size_t last = value.find_last_not_of(" \t");
            return value.substr(first, last - first + 1);
        }
        at = end + 1;
    }
    return std::nullopt;
}

std::vector<std::string_view> split_words(std::string_view text) {
    std::vector<std::string_view> words;
    size_t at = 0;
    while ((at = text.find_first_not_of(" \t\n", at)) != std::string_view::npos) {
        size_t end = text.find_first_of(" \t\n", at);
        if (end == std::string_view::npos) end = text.size();
        words.push_back(text.substr(at, end - at));
        at = end;
    }
    return words;
}

Result<uint64_t> parse_number(std::string_view text, int base, std::string_view what) {
    uint64_t value = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value, base);
    if (text.empty() || ec != std::errc() || ptr != text.data() + text.size())
        return make_error(EINVAL, "{}: '{}' is not a base-{} number", what, text, base);
    return value;
}

namespace {

// "start-end perms offset major:minor inode [path]"; the path may hold spaces.
Result<MapsLine> parse_maps_line(std::string_view line, const std::string& where) {
    auto words = split_words(line);
    size_t dash = words.empty() ? std::string_view::npos : words[0].find('-');
    size_t colon = words.size() < 5 ? std::string_view::npos : words[3].find(':');
    if (dash == std::string_view::npos || colon == std::string_view::npos)
        return make_error(EINVAL, "{}: not a mapping: '{}'", where, line);
    MapsLine entry;
    entry.start = CRIB_TRY(parse_number(words[0].substr(0, dash), 16, where));
    entry.end = CRIB_TRY(parse_number(words[0].substr(dash + 1), 16, where));
    entry.perms = std::string(words[1]);
    entry.offset = CRIB_TRY(parse_number(words[2], 16, where));
    entry.major =
        static_cast<uint32_t>(CRIB_TRY(parse_number(words[3].substr(0, colon), 16, where)));
    entry.minor =
        static_cast<uint32_t>(CRIB_TRY(parse_number(words[3].substr(colon + 1), 16, where)));
    entry.inode = CRIB_TRY(parse_number(words[4], 10, where));
    if (words.size() > 5)
        entry.path = std::string(line.substr(static_cast<size_t>(words[5].data() - line.data())));
    return entry;
}

// maps lines, or smaps blocks: a maps line followed by "Key: value" lines.
Result<std::vector<MapsLine>> read_mappings(pid_t pid, const char* file) {
    std::string path = fmt::format("/proc/{}/{}", pid, file);
    std::string text = CRIB_TRY(read_proc_file(path));
    std::vector<MapsLine> lines;
    size_t at = 0;
    for (size_t number = 1; at < text.size(); number++) {
        size_t end = text.find('\n', at);
        if (end == std::string::npos) end = text.size();
        std::string_view line = std::string_view(text).substr(at, end - at);
        at = end + 1;
        std::string_view first = line.substr(0, line.find(' '));
        if (!first.empty() && first.back() == ':') {
            if (first == "VmFlags:" && !lines.empty())
                lines.back().vm_flags = std::string(find_field(line, "VmFlags").value_or(""));
            continue;
        }
        lines.push_back(CRIB_TRY(parse_maps_line(line, fmt::format("{} line {}", path, number))));
    }
    return lines;
}

}  // namespace

Result<std::vector<MapsLine>> read_maps(pid_t pid) {
    return read_mappings(pid, "maps");
}

Result<std::vector<MapsLine>> read_smaps(pid_t pid) {
    return read_mappings(pid, "smaps");
}

Result<StatLine> StatLine::read(pid_t pid) {
    StatLine stat;
    stat.m_path = "/proc/" + std::to_string(pid) + "/stat";
    std::string text = CRIB_TRY(read_proc_file(stat.m_path));
    // comm may hold spaces and parentheses: it ends at the last ')'.
    size_t open_paren = text.find('(');
    size_t close_paren = text.rfind(')');
    if (open_paren == std::string::npos || close_paren == std::string::npos ||
        close_paren < open_paren)
        return make_error(EINVAL, "{}: no '(comm)' field", stat.m_path);
    stat.m_comm = text.substr(open_paren + 1, close_paren - open_paren - 1);
    for (std::string_view word : split_words(std::string_view(text).substr(close_paren + 1)))
        stat.m_fields.emplace_back(word);
    if (stat.m_fields.empty() || stat.m_fields[0].size() != 1)
        return make_error(EINVAL, "{}: no state field", stat.m_path);
    stat.m_state = stat.m_fields[0][0];
    return stat;
}

Result<uint64_t> StatLine::field(size_t number) const {
    if (number < 3 || number - 3 >= m_fields.size())
        return make_error(EINVAL, "{}: no field {} (the kernel printed {})", m_path, number,
                          m_fields.size() + 2);
    return parse_number(m_fields[number - 3], 10, fmt::format("{} field {}", m_path, number));
}

}  // namespace crib::proc
