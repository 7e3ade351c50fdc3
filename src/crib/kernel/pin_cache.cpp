#include "crib/kernel/pin_cache.hpp"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <fmt/format.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

namespace crib::kernel {
namespace {

// Bumped when what is pinned, or how, changes: older sets are then ignored.
constexpr std::string_view kLayout = "crib-collect-pins-1";

uint64_t fnv1a(uint64_t hash, std::span<const uint8_t> bytes) {
    for (uint8_t byte : bytes) hash = (hash ^ byte) * 0x100000001b3ull;
    return hash;
}

uint64_t fnv1a(uint64_t hash, std::string_view text) {
    return fnv1a(hash, {reinterpret_cast<const uint8_t*>(text.data()), text.size()});
}

// Only a directory we own and nobody else may write to: whoever can plant
// programs there decides what a dump records.
bool trusted_dir(int fd) {
    struct stat st {};
    return fstat(fd, &st) == 0 && S_ISDIR(st.st_mode) && st.st_uid == geteuid() &&
           (st.st_mode & 022) == 0;
}

bool is_bpffs(const std::string& path) {
    struct statfs fs {};
    return statfs(path.c_str(), &fs) == 0 && fs.f_type == BPF_FS_MAGIC;
}

// bpf_obj_get hands back maps and links too; the fd's anon inode says which.
bool is_program(int fd) {
    char target[64] = {};
    std::string link = fmt::format("/proc/self/fd/{}", fd);
    ssize_t n = readlink(link.c_str(), target, sizeof target - 1);
    return n > 0 && std::string_view(target, static_cast<size_t>(n)) == "anon_inode:bpf-prog";
}

void remove_dir(const std::string& path) {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
}

}  // namespace

std::string pin_key(std::span<const uint8_t> object) {
    struct utsname kernel {};
    uname(&kernel);
    uint64_t hash = 0xcbf29ce484222325ull;
    hash = fnv1a(hash, kLayout);
    hash = fnv1a(hash, object);
    hash = fnv1a(hash, kernel.release);
    hash = fnv1a(hash, kernel.version);
    return fmt::format("{:016x}", hash);
}

std::optional<PinnedPrograms> open_pinned(std::string_view root, std::string_view key,
                                          std::span<const std::string_view> names) {
    std::string root_path(root);
    std::string dir_path = fmt::format("{}/{}", root, key);
    Fd root_dir(open(root_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!root_dir || !trusted_dir(root_dir.get())) return std::nullopt;
    PinnedPrograms pinned;
    pinned.dir = Fd(open(dir_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!pinned.dir || !trusted_dir(pinned.dir.get())) return std::nullopt;
    for (std::string_view name : names) {
        std::string path = fmt::format("{}/{}", dir_path, name);
        Fd program(bpf_obj_get(path.c_str()));
        if (!program || !is_program(program.get())) return std::nullopt;
        pinned.programs.push_back(std::move(program));
    }
    return pinned;
}

std::optional<Fd> publish_pinned(std::string_view root, std::string_view key,
                                 std::span<const std::string_view> names,
                                 std::span<const int> programs) {
    std::string root_path(root);
    std::filesystem::path parent = std::filesystem::path(root_path).parent_path();
    if (!is_bpffs(parent.string())) return std::nullopt;
    if (mkdir(root_path.c_str(), 0700) != 0 && errno != EEXIST) return std::nullopt;
    std::string dir_path = fmt::format("{}/{}", root, key);
    // bpffs refuses names with a dot, so no hidden name: the prefix keeps
    // it apart from keys (hex digits only).
    std::string private_path = fmt::format("{}/new-{}-{}", root, key, gettid());
    remove_dir(private_path);  // a crashed run of a recycled tid
    if (mkdir(private_path.c_str(), 0700) != 0) return std::nullopt;
    for (size_t i = 0; i < names.size() && i < programs.size(); ++i) {
        std::string path = fmt::format("{}/{}", private_path, names[i]);
        if (bpf_obj_pin(programs[i], path.c_str()) != 0) {
            remove_dir(private_path);
            return std::nullopt;
        }
    }
    // A directory already there is either another run's complete set (we
    // found it unusable moments ago only if it was not) or a broken one.
    if (!open_pinned(root, key, names)) remove_dir(dir_path);
    if (rename(private_path.c_str(), dir_path.c_str()) != 0) {
        remove_dir(private_path);
        return std::nullopt;
    }
    Fd dir(open(dir_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir) return std::nullopt;
    return dir;
}

}  // namespace crib::kernel
