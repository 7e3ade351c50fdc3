// Names for the kernel encodings the image keeps as numbers: signals,
// registers, limits, and the flag words of mappings, files and sigactions.
// Shared by the JSON and text renderings so both spell things alike.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "crib/image/model.hpp"

namespace crib::image {

// struct user_regs_struct, x86-64 order: Thread::regs[i] is kRegisterNames[i].
inline constexpr std::array<std::string_view, 27> kRegisterNames{
    "r15",    "r14", "r13", "r12",     "rbp",     "rbx", "r11",      "r10", "r9",
    "r8",     "rax", "rcx", "rdx",     "rsi",     "rdi", "orig_rax", "rip", "cs",
    "eflags", "rsp", "ss",  "fs_base", "gs_base", "ds",  "es",       "fs",  "gs"};

inline constexpr std::array<std::string_view, 7> kVmaKindNames{"anon", "file", "heap",    "stack",
                                                               "vdso", "vvar", "vsyscall"};
static_assert(kVmaKindNames.size() == size_t(VmaKind::Vsyscall) + 1);

inline constexpr std::array<std::string_view, 6> kFileKindNames{
    "regular", "directory", "chardev", "pipe", "eventfd", "unsupported"};
static_assert(kFileKindNames.size() == size_t(FileKind::Unsupported) + 1);

// The name of a kind; "?" for a value outside the enum.
std::string_view vma_kind_name(VmaKind kind);
std::string_view file_kind_name(FileKind kind);

// Index of a register in Thread::regs by name; kRegisterNames.size() if none.
size_t register_index(std::string_view name);

// "SIGINT"; real-time signals by number ("SIG34"), since glibc and the kernel
// disagree on where SIGRTMIN is.
std::string signal_name(uint64_t signo);
// Bit n-1 of a sigset is signal n.
std::vector<std::string> sigset_names(uint64_t set);
std::string sigset_string(uint64_t set);  // "SIGINT SIGTERM", or "none"

// Keys of the fixed tables in the model, by index.
std::string register_key(size_t index);
std::string sigaction_key(size_t index);  // index = signal - 1
std::string rlimit_key(size_t index);     // "NOFILE"
std::string itimer_key(size_t index);     // "real", "virtual", "prof"
std::string id_key(size_t index);         // "real", "effective", "saved", "fs"

// Flag words rendered as text; unknown bits are kept as a trailing hex number.
std::string prot_string(uint64_t prot);         // "rw-"
std::string perms_string(const Vma& vma);       // "rw-p", as /proc/PID/maps
std::string map_flags_string(uint64_t flags);   // "MAP_PRIVATE|MAP_ANONYMOUS"
std::string open_flags_string(uint64_t flags);  // "O_RDWR|O_CLOEXEC"
std::string sa_flags_string(uint64_t flags);    // "SA_SIGINFO|SA_RESTORER"
std::string ss_flags_string(uint64_t flags);    // "SS_DISABLE"
std::string efd_flags_string(uint64_t flags);   // "EFD_SEMAPHORE|EFD_NONBLOCK"
std::string octal_string(uint64_t value);       // "0644"
std::string dev_string(uint64_t dev);           // "08:01", as /proc/PID/maps
std::string hex_string(uint64_t value);         // "0x7ffd1000"
std::string limit_string(uint64_t value);       // "unlimited" for RLIM_INFINITY
std::string size_string(uint64_t bytes);        // "12.0 KiB"
std::string time_string(uint64_t ns);           // "2026-11-22T02:16:11.123456789Z", UTC

// The leading int fields of a saved siginfo.
int32_t siginfo_signo(const PendingSignal& signal);
int32_t siginfo_code(const PendingSignal& signal);

}  // namespace crib::image
