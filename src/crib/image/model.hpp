// What crib saves of a process: the image model. Collectors (procfs,
// kernel) fill it, the CRIB programs' records are turned into it, the image
// files store it and the restorer rebuilds a process from it. Plain values
// with the kernel's own encodings (register sets, sigsets, siginfo bytes), so
// nothing is translated twice.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace crib::image {

inline constexpr uint32_t kSignalCount = 64;  // _NSIG
inline constexpr uint32_t kRlimitCount = 16;  // RLIM_NLIMITS
inline constexpr uint64_t kPageSize = 4096;

struct Credentials {
    std::array<uint32_t, 4> uids{};  // real, effective, saved, fs
    std::array<uint32_t, 4> gids{};
    std::vector<uint32_t> groups;  // supplementary
    uint64_t cap_inheritable = 0, cap_permitted = 0, cap_effective = 0, cap_bounding = 0,
             cap_ambient = 0;
    bool operator==(const Credentials&) const = default;
};

struct Rlimit {
    uint64_t cur = 0, max = 0;  // RLIM_INFINITY as ~0
    bool operator==(const Rlimit&) const = default;
};

// struct sigaction as the kernel keeps it (k_sigaction), for signals 1..64.
struct SigAction {
    uint64_t handler = 0;  // SIG_DFL 0, SIG_IGN 1, or an address
    uint64_t flags = 0;    // SA_*
    uint64_t restorer = 0;
    uint64_t mask = 0;
    bool operator==(const SigAction&) const = default;
};

// A queued signal: the 128-byte siginfo as PTRACE_PEEKSIGINFO returns it.
struct PendingSignal {
    std::array<uint8_t, 128> siginfo{};
    bool operator==(const PendingSignal&) const = default;
};

struct Itimer {
    uint64_t interval_us = 0, value_us = 0;  // value 0: disarmed
    bool operator==(const Itimer&) const = default;
};

// mm_struct fields PR_SET_MM_MAP sets.
struct MmLayout {
    uint64_t start_code = 0, end_code = 0, start_data = 0, end_data = 0;
    uint64_t start_brk = 0, brk = 0, start_stack = 0;
    uint64_t arg_start = 0, arg_end = 0, env_start = 0, env_end = 0;
    std::vector<uint64_t> auxv;  // (type, value) pairs up to and including AT_NULL
    bool operator==(const MmLayout&) const = default;
};

// Process-wide state (the thread-group leader's view).
struct Task {
    int32_t pid = 0, ppid = 0, pgid = 0, sid = 0;
    std::string comm;
    std::string exe;  // path of /proc/PID/exe
    std::string cwd;
    std::string root;
    uint32_t umask = 022;
    uint32_t personality = 0;
    Credentials creds;
    std::array<Rlimit, kRlimitCount> rlimits{};
    std::array<SigAction, kSignalCount> sigactions{};  // index = signal - 1
    std::vector<PendingSignal> shared_pending;         // process-directed
    std::array<Itimer, 3> itimers{};                   // ITIMER_REAL, _VIRTUAL, _PROF
    MmLayout mm;
    bool operator==(const Task&) const = default;
};

struct SigAltStack {
    uint64_t sp = 0, size = 0;
    uint32_t flags = 2;  // SS_DISABLE
    bool operator==(const SigAltStack&) const = default;
};

// rseq registration (PTRACE_GET_RSEQ_CONFIGURATION).
struct Rseq {
    uint64_t address = 0;  // 0: none
    uint32_t length = 0, flags = 0, signature = 0;
    bool operator==(const Rseq&) const = default;
};

struct Thread {
    int32_t tid = 0;
    // struct user_regs_struct (27 x u64, x86-64 order), taken while stopped
    // and already rewound where a syscall was interrupted (see docs).
    std::array<uint64_t, 27> regs{};
    std::vector<uint8_t> xstate;  // NT_X86_XSTATE as PTRACE_GETREGSET gives it
    uint64_t blocked = 0;         // signal mask
    std::vector<PendingSignal> pending;
    SigAltStack altstack;
    Rseq rseq;
    uint64_t clear_child_tid = 0;  // set_tid_address: what pthread_join waits on
    bool operator==(const Thread&) const = default;
};

enum class VmaKind : uint8_t {
    Anon,      // private or shared anonymous memory
    File,      // a file mapping (path)
    Heap,      // [heap]
    Stack,     // [stack]
    Vdso,      // [vdso]: not saved, the running kernel's is moved in
    Vvar,      // [vvar], [vvar_vclock]: likewise
    Vsyscall,  // [vsyscall]: fixed by the kernel, left alone
};

// A range of saved page contents inside pages.img.
struct PageRun {
    uint64_t address = 0;      // first byte in the process
    uint64_t length = 0;       // bytes, a multiple of kPageSize
    uint64_t file_offset = 0;  // where in pages.img, a multiple of kPageSize
    uint64_t checksum = 0;     // XXH3-64 of the run's bytes
    bool operator==(const PageRun&) const = default;
};

struct Vma {
    uint64_t start = 0, end = 0;
    uint32_t prot = 0;   // PROT_READ | PROT_WRITE | PROT_EXEC
    uint32_t flags = 0;  // MAP_PRIVATE or MAP_SHARED, | MAP_ANONYMOUS, | MAP_GROWSDOWN
    VmaKind kind = VmaKind::Anon;
    uint64_t pgoff = 0;  // file offset in bytes
    std::string path;    // File mappings; the bracketed name for special ones
    uint64_t dev = 0, ino = 0;
    std::vector<PageRun> pages;  // saved contents; ranges not listed are untouched
    bool operator==(const Vma&) const = default;
};

enum class FileKind : uint8_t {
    Regular,
    Directory,
    CharDevice,  // ttys, /dev/null...: reopened by path
    Pipe,        // also FIFOs (path set)
    Eventfd,
    Unsupported,  // sockets, io_uring...: the dump refuses them for now
};

struct FileDesc {
    int32_t fd = 0;
    FileKind kind = FileKind::Regular;
    uint32_t flags = 0;  // open(2) flags as fdinfo shows them (O_CLOEXEC included)
    uint64_t pos = 0;
    std::string path;  // readlink of /proc/PID/fd/N ("pipe:[123]" for pipes)
    uint64_t dev = 0, ino = 0;
    uint32_t mode = 0;           // st_mode
    std::vector<uint8_t> data;   // Pipe: the bytes in flight, read without consuming
    uint64_t eventfd_count = 0;  // Eventfd
    uint32_t eventfd_flags = 0;  // EFD_SEMAPHORE | EFD_NONBLOCK...
    bool operator==(const FileDesc&) const = default;
};

struct Process {
    Task task;
    std::vector<Thread> threads;  // threads[0] is the leader
    std::vector<Vma> vmas;        // sorted by start
    std::vector<FileDesc> files;  // sorted by fd
    bool operator==(const Process&) const = default;
};

// Facts about the dump itself, kept with the image.
struct DumpInfo {
    std::string collector;  // "kernel" or "procfs"
    std::string kernel_release;
    uint64_t time_ns = 0;  // CLOCK_REALTIME when the process was frozen
    uint64_t page_bytes = 0;
    bool operator==(const DumpInfo&) const = default;
};

}  // namespace crib::image
