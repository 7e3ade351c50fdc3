#include "crib/image/names.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>

#include <cstring>
#include <ctime>
#include <span>

#include <fmt/chrono.h>
#include <fmt/format.h>

namespace crib::image {
namespace {

struct FlagName {
    uint64_t mask;
    std::string_view name;
};

// Rows are matched in order and their bits taken away, so a multi-bit flag
// (O_SYNC holds O_DSYNC) is listed before its parts.
std::string flags_string(uint64_t value, std::span<const FlagName> names, std::string_view none) {
    std::string out;
    auto add = [&](std::string_view part) {
        if (!out.empty()) out += '|';
        out += part;
    };
    for (const auto& row : names) {
        if ((value & row.mask) == row.mask) {
            add(row.name);
            value &= ~row.mask;
        }
    }
    if (value) add(fmt::format("{:#x}", value));
    return out.empty() ? std::string(none) : out;
}

constexpr std::array<std::string_view, 32> kSignalNames{
    "",          "SIGHUP",  "SIGINT",    "SIGQUIT", "SIGILL",   "SIGTRAP", "SIGABRT", "SIGBUS",
    "SIGFPE",    "SIGKILL", "SIGUSR1",   "SIGSEGV", "SIGUSR2",  "SIGPIPE", "SIGALRM", "SIGTERM",
    "SIGSTKFLT", "SIGCHLD", "SIGCONT",   "SIGSTOP", "SIGTSTP",  "SIGTTIN", "SIGTTOU", "SIGURG",
    "SIGXCPU",   "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH", "SIGIO",   "SIGPWR",  "SIGSYS"};

constexpr std::array<std::string_view, kRlimitCount> kRlimitNames{
    "CPU",     "FSIZE", "DATA",  "STACK",      "CORE",     "RSS",  "NPROC",  "NOFILE",
    "MEMLOCK", "AS",    "LOCKS", "SIGPENDING", "MSGQUEUE", "NICE", "RTPRIO", "RTTIME"};

constexpr std::array<std::string_view, 3> kItimerNames{"real", "virtual", "prof"};
constexpr std::array<std::string_view, 4> kIdNames{"real", "effective", "saved", "fs"};

constexpr std::array kMapFlags{
    FlagName{MAP_SHARED, "MAP_SHARED"},
    FlagName{MAP_PRIVATE, "MAP_PRIVATE"},
    FlagName{MAP_ANONYMOUS, "MAP_ANONYMOUS"},
    FlagName{MAP_GROWSDOWN, "MAP_GROWSDOWN"},
};

// The kernel's values as fdinfo shows them: glibc defines O_LARGEFILE as 0 on
// 64-bit targets, but the kernel still reports its own bit.
constexpr uint64_t kKernelLargeFile = 0100000;
constexpr std::array kOpenFlags{
    FlagName{O_WRONLY, "O_WRONLY"},
    FlagName{O_RDWR, "O_RDWR"},
    FlagName{O_CREAT, "O_CREAT"},
    FlagName{O_EXCL, "O_EXCL"},
    FlagName{O_NOCTTY, "O_NOCTTY"},
    FlagName{O_TRUNC, "O_TRUNC"},
    FlagName{O_APPEND, "O_APPEND"},
    FlagName{O_NONBLOCK, "O_NONBLOCK"},
    FlagName{O_SYNC, "O_SYNC"},
    FlagName{O_DSYNC, "O_DSYNC"},
    FlagName{O_ASYNC, "O_ASYNC"},
    FlagName{O_DIRECT, "O_DIRECT"},
    FlagName{kKernelLargeFile, "O_LARGEFILE"},
    FlagName{O_TMPFILE, "O_TMPFILE"},
    FlagName{O_DIRECTORY, "O_DIRECTORY"},
    FlagName{O_NOFOLLOW, "O_NOFOLLOW"},
    FlagName{O_NOATIME, "O_NOATIME"},
    FlagName{O_CLOEXEC, "O_CLOEXEC"},
    FlagName{O_PATH, "O_PATH"},
};

// SA_RESTORER is the kernel's (glibc sets it behind the caller's back and
// does not export it).
constexpr uint64_t kSaRestorer = 0x04000000;
constexpr std::array kSaFlags{
    FlagName{SA_NOCLDSTOP, "SA_NOCLDSTOP"}, FlagName{SA_NOCLDWAIT, "SA_NOCLDWAIT"},
    FlagName{SA_SIGINFO, "SA_SIGINFO"},     FlagName{kSaRestorer, "SA_RESTORER"},
    FlagName{SA_ONSTACK, "SA_ONSTACK"},     FlagName{SA_RESTART, "SA_RESTART"},
    FlagName{SA_NODEFER, "SA_NODEFER"},     FlagName{SA_RESETHAND, "SA_RESETHAND"},
};

constexpr uint64_t kSsAutoDisarm = 1u << 31;  // linux/signal.h, not in glibc
constexpr std::array kSsFlags{
    FlagName{SS_ONSTACK, "SS_ONSTACK"},
    FlagName{SS_DISABLE, "SS_DISABLE"},
    FlagName{kSsAutoDisarm, "SS_AUTODISARM"},
};

constexpr std::array kEfdFlags{
    FlagName{EFD_SEMAPHORE, "EFD_SEMAPHORE"},
    FlagName{EFD_NONBLOCK, "EFD_NONBLOCK"},
    FlagName{EFD_CLOEXEC, "EFD_CLOEXEC"},
};

template <size_t N>
std::string key_of(const std::array<std::string_view, N>& names, size_t index) {
    return index < N ? std::string(names[index]) : std::to_string(index);
}

int32_t siginfo_int(const PendingSignal& signal, size_t offset) {
    int32_t value;
    std::memcpy(&value, signal.siginfo.data() + offset, sizeof value);
    return value;
}

}  // namespace

std::string_view vma_kind_name(VmaKind kind) {
    auto index = size_t(kind);
    return index < kVmaKindNames.size() ? kVmaKindNames[index] : "?";
}

std::string_view file_kind_name(FileKind kind) {
    auto index = size_t(kind);
    return index < kFileKindNames.size() ? kFileKindNames[index] : "?";
}

size_t register_index(std::string_view name) {
    for (size_t i = 0; i < kRegisterNames.size(); ++i)
        if (kRegisterNames[i] == name) return i;
    return kRegisterNames.size();
}

std::string signal_name(uint64_t signo) {
    if (signo > 0 && signo < kSignalNames.size()) return std::string(kSignalNames[signo]);
    return fmt::format("SIG{}", signo);
}

std::vector<std::string> sigset_names(uint64_t set) {
    std::vector<std::string> names;
    for (uint32_t bit = 0; bit < kSignalCount; ++bit)
        if (set >> bit & 1) names.push_back(signal_name(bit + 1));
    return names;
}

std::string sigset_string(uint64_t set) {
    if (!set) return "none";
    return fmt::format("{}", fmt::join(sigset_names(set), " "));
}

std::string register_key(size_t index) {
    return key_of(kRegisterNames, index);
}
std::string sigaction_key(size_t index) {
    return signal_name(index + 1);
}
std::string rlimit_key(size_t index) {
    return key_of(kRlimitNames, index);
}
std::string itimer_key(size_t index) {
    return key_of(kItimerNames, index);
}
std::string id_key(size_t index) {
    return key_of(kIdNames, index);
}

std::string prot_string(uint64_t prot) {
    std::string out = "---";
    if (prot & PROT_READ) out[0] = 'r';
    if (prot & PROT_WRITE) out[1] = 'w';
    if (prot & PROT_EXEC) out[2] = 'x';
    return out;
}

std::string perms_string(const Vma& vma) {
    return prot_string(vma.prot) + (vma.flags & MAP_SHARED ? 's' : 'p');
}

std::string map_flags_string(uint64_t flags) {
    return flags_string(flags, kMapFlags, "0");
}

std::string open_flags_string(uint64_t flags) {
    // The access mode is a two-bit number, not a flag: 0 is O_RDONLY.
    std::string out = flags_string(flags, kOpenFlags, "O_RDONLY");
    if ((flags & O_ACCMODE) == O_RDONLY && flags) out = "O_RDONLY|" + out;
    return out;
}

std::string sa_flags_string(uint64_t flags) {
    return flags_string(flags, kSaFlags, "0");
}
std::string ss_flags_string(uint64_t flags) {
    return flags_string(flags, kSsFlags, "0");
}
std::string efd_flags_string(uint64_t flags) {
    return flags_string(flags, kEfdFlags, "0");
}

std::string octal_string(uint64_t value) {
    return fmt::format("{:#04o}", value);
}

std::string dev_string(uint64_t dev) {
    return fmt::format("{:02x}:{:02x}", major(dev), minor(dev));
}

std::string hex_string(uint64_t value) {
    return fmt::format("{:#x}", value);
}

std::string limit_string(uint64_t value) {
    return value == ~uint64_t{0} ? "unlimited" : std::to_string(value);
}

std::string size_string(uint64_t bytes) {
    static constexpr std::array<std::string_view, 5> kUnits{"B", "KiB", "MiB", "GiB", "TiB"};
    if (bytes < 1024) return fmt::format("{} B", bytes);
    double value = double(bytes);
    size_t unit = 0;
    while (value >= 1024 && unit + 1 < kUnits.size()) {
        value /= 1024;
        ++unit;
    }
    return fmt::format("{:.1f} {}", value, kUnits[unit]);
}

std::string time_string(uint64_t ns) {
    constexpr uint64_t kNsPerSecond = 1'000'000'000;
    std::time_t seconds = std::time_t(ns / kNsPerSecond);
    std::tm utc{};
    gmtime_r(&seconds, &utc);
    return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:09}Z", utc, ns % kNsPerSecond);
}

int32_t siginfo_signo(const PendingSignal& signal) {
    return siginfo_int(signal, 0);
}
int32_t siginfo_code(const PendingSignal& signal) {
    return siginfo_int(signal, 8);
}

}  // namespace crib::image
