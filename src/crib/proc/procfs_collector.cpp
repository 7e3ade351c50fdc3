#include "crib/proc/procfs_collector.hpp"

#include <dirent.h>
#include <elf.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <string_view>

#include "crib/proc/freezer.hpp"
#include "crib/proc/procfs_read.hpp"
#include "crib/proc/ptrace_state.hpp"

namespace crib::proc {
namespace {

// /proc/PID/stat field numbers of the mm layout (proc(5)).
struct MmField {
    size_t number;
    uint64_t image::MmLayout::*field;
};
constexpr std::array kMmFields{
    MmField{26, &image::MmLayout::start_code},  MmField{27, &image::MmLayout::end_code},
    MmField{28, &image::MmLayout::start_stack}, MmField{45, &image::MmLayout::start_data},
    MmField{46, &image::MmLayout::end_data},    MmField{47, &image::MmLayout::start_brk},
    MmField{48, &image::MmLayout::arg_start},   MmField{49, &image::MmLayout::arg_end},
    MmField{50, &image::MmLayout::env_start},   MmField{51, &image::MmLayout::env_end},
};

struct CapField {
    const char* key;
    uint64_t image::Credentials::*field;
};
constexpr std::array kCapFields{
    CapField{"CapInh", &image::Credentials::cap_inheritable},
    CapField{"CapPrm", &image::Credentials::cap_permitted},
    CapField{"CapEff", &image::Credentials::cap_effective},
    CapField{"CapBnd", &image::Credentials::cap_bounding},
    CapField{"CapAmb", &image::Credentials::cap_ambient},
};

struct SpecialVma {
    std::string_view name;
    image::VmaKind kind;
};
constexpr std::array kSpecialVmas{
    SpecialVma{"[heap]", image::VmaKind::Heap},
    SpecialVma{"[stack]", image::VmaKind::Stack},
    SpecialVma{"[vdso]", image::VmaKind::Vdso},
    SpecialVma{"[vvar]", image::VmaKind::Vvar},
    SpecialVma{"[vvar_vclock]", image::VmaKind::Vvar},
    SpecialVma{"[vsyscall]", image::VmaKind::Vsyscall},
};
// What maps calls a shared anonymous mapping (its shmem file has this name).
constexpr std::string_view kSharedAnonName = "/dev/zero (deleted)";

struct FileType {
    mode_t type;
    image::FileKind kind;
};
constexpr std::array kFileTypes{
    FileType{S_IFREG, image::FileKind::Regular},
    FileType{S_IFDIR, image::FileKind::Directory},
    FileType{S_IFCHR, image::FileKind::CharDevice},
    FileType{S_IFIFO, image::FileKind::Pipe},
};
constexpr std::string_view kEventfdPath = "anon_inode:[eventfd]";
constexpr std::string_view kAnonInodePrefix = "anon_inode:";

// Signals whose action cannot be changed, hence neither asked nor saved.
constexpr bool is_fixed_signal(int signal) {
    return signal == SIGKILL || signal == SIGSTOP;
}

std::string proc_path(pid_t pid, std::string_view name) {
    return fmt::format("/proc/{}/{}", pid, name);
}

template <size_t N>
Result<std::array<uint32_t, N>> parse_ids(std::string_view text, const std::string& what) {
    auto words = split_words(text);
    if (words.size() != N)
        return make_error(EINVAL, "{}: {} values where {} were expected", what, words.size(), N);
    std::array<uint32_t, N> ids{};
    for (size_t i = 0; i < N; i++)
        ids[i] = static_cast<uint32_t>(CRIB_TRY(parse_number(words[i], 10, what)));
    return ids;
}

Result<std::string_view> status_field(std::string_view status, const char* key,
                                      const std::string& path) {
    auto value = find_field(status, key);
    if (!value) return make_error(EINVAL, "{}: no '{}' line", path, key);
    return *value;
}

Result<void> collect_status(pid_t pid, image::Task& task) {
    std::string path = proc_path(pid, "status");
    std::string status = CRIB_TRY(read_proc_file(path));
    task.umask = static_cast<uint32_t>(
        CRIB_TRY(parse_number(CRIB_TRY(status_field(status, "Umask", path)), 8, path + " Umask")));
    image::Credentials& creds = task.creds;
    creds.uids = CRIB_TRY(parse_ids<4>(CRIB_TRY(status_field(status, "Uid", path)), path + " Uid"));
    creds.gids = CRIB_TRY(parse_ids<4>(CRIB_TRY(status_field(status, "Gid", path)), path + " Gid"));
    creds.groups.clear();
    for (std::string_view group : split_words(CRIB_TRY(status_field(status, "Groups", path))))
        creds.groups.push_back(
            static_cast<uint32_t>(CRIB_TRY(parse_number(group, 10, path + " Groups"))));
    for (const CapField& cap : kCapFields)
        creds.*cap.field = CRIB_TRY(
            parse_number(CRIB_TRY(status_field(status, cap.key, path)), 16, path + " " + cap.key));
    return {};
}

Result<void> collect_identity(pid_t pid, image::Task& task) {
    auto stat = CRIB_TRY(StatLine::read(pid));
    task.pid = pid;
    task.ppid = static_cast<int32_t>(CRIB_TRY(stat.field(4)));
    task.pgid = static_cast<int32_t>(CRIB_TRY(stat.field(5)));
    task.sid = static_cast<int32_t>(CRIB_TRY(stat.field(6)));
    for (const MmField& mm : kMmFields) task.mm.*mm.field = CRIB_TRY(stat.field(mm.number));

    std::string comm = CRIB_TRY(read_proc_file(proc_path(pid, "comm")));
    if (!comm.empty() && comm.back() == '\n') comm.pop_back();
    task.comm = std::move(comm);
    task.exe = CRIB_TRY(read_proc_link(proc_path(pid, "exe")));
    task.cwd = CRIB_TRY(read_proc_link(proc_path(pid, "cwd")));
    task.root = CRIB_TRY(read_proc_link(proc_path(pid, "root")));

    std::string path = proc_path(pid, "personality");
    std::string personality = CRIB_TRY(read_proc_file(path));
    auto words = split_words(personality);
    if (words.size() != 1) return make_error(EINVAL, "{}: '{}'", path, personality);
    task.personality = static_cast<uint32_t>(CRIB_TRY(parse_number(words[0], 16, path)));

    for (uint32_t resource = 0; resource < image::kRlimitCount; resource++) {
        rlimit64 limit{};
        if (prlimit64(pid, static_cast<__rlimit_resource>(resource), nullptr, &limit) != 0)
            return make_error(errno, "prlimit of resource {} of process {}: {}", resource, pid,
                              std::strerror(errno));
        task.rlimits[resource] = {limit.rlim_cur, limit.rlim_max};
    }

    path = proc_path(pid, "auxv");
    std::string auxv = CRIB_TRY(read_proc_file(path));
    task.mm.auxv.clear();
    for (size_t at = 0; at + 16 <= auxv.size(); at += 16) {
        uint64_t pair[2];
        std::memcpy(pair, auxv.data() + at, sizeof(pair));
        task.mm.auxv.insert(task.mm.auxv.end(), pair, pair + 2);
        if (pair[0] == AT_NULL) return {};
    }
    return make_error(EINVAL, "{}: no AT_NULL entry in {} bytes", path, auxv.size());
}

// An injected call that must succeed: a negative return becomes the error.
Result<void> inject(SyscallInjector& injector, pid_t tid, long nr, std::array<uint64_t, 6> args,
                    std::span<uint8_t> scratch, const char* what) {
    int64_t ret = CRIB_TRY(injector.call(tid, nr, args, scratch));
    if (ret < 0)
        return make_error(static_cast<int>(-ret), "{} in thread {}: {}", what, tid,
                          std::strerror(static_cast<int>(-ret)));
    return {};
}

template <typename T>
T load(std::span<const uint8_t> bytes, size_t offset) {
    T value;
    std::memcpy(&value, bytes.data() + offset, sizeof(T));
    return value;
}

Result<void> collect_injected(const Freezer& freezer, image::Process& out) {
    auto injector = CRIB_TRY(SyscallInjector::create(freezer));
    constexpr uint64_t kScratch = SyscallInjector::kScratch;
    pid_t leader = freezer.pid();
    image::Task& task = out.task;

    // struct sigaction as rt_sigaction(2) returns it on x86-64: handler,
    // flags, restorer, mask, 8 bytes each.
    std::array<uint8_t, 32> action{};
    for (int signal = 1; signal <= static_cast<int>(image::kSignalCount); signal++) {
        if (is_fixed_signal(signal)) continue;
        CRIB_TRY(inject(*injector, leader, SYS_rt_sigaction,
                        {static_cast<uint64_t>(signal), 0, kScratch, sizeof(uint64_t)}, action,
                        "rt_sigaction"));
        task.sigactions[signal - 1] = {load<uint64_t>(action, 0), load<uint64_t>(action, 8),
                                       load<uint64_t>(action, 16), load<uint64_t>(action, 24)};
    }

    // struct itimerval: interval then value, each {seconds, microseconds}.
    std::array<uint8_t, 32> timer{};
    for (uint64_t which = 0; which < task.itimers.size(); which++) {
        CRIB_TRY(inject(*injector, leader, SYS_getitimer, {which, kScratch}, timer, "getitimer"));
        task.itimers[which] = {load<uint64_t>(timer, 0) * 1000000 + load<uint64_t>(timer, 8),
                               load<uint64_t>(timer, 16) * 1000000 + load<uint64_t>(timer, 24)};
    }

    int64_t brk = CRIB_TRY(injector->call(leader, SYS_brk, {0}));
    task.mm.brk = static_cast<uint64_t>(brk);

    // stack_t: ss_sp, ss_flags (int, padded), ss_size.
    std::array<uint8_t, 24> altstack{};
    std::array<uint8_t, 8> tid_address{};
    for (image::Thread& thread : out.threads) {
        CRIB_TRY(
            inject(*injector, thread.tid, SYS_sigaltstack, {0, kScratch}, altstack, "sigaltstack"));
        thread.altstack = {load<uint64_t>(altstack, 0), load<uint64_t>(altstack, 16),
                           load<uint32_t>(altstack, 8)};
        CRIB_TRY(inject(*injector, thread.tid, SYS_prctl, {PR_GET_TID_ADDRESS, kScratch},
                        tid_address, "prctl(PR_GET_TID_ADDRESS)"));
        thread.clear_child_tid = load<uint64_t>(tid_address, 0);
    }
    return injector->restore();
}

bool has_vm_flag(std::string_view vm_flags, std::string_view flag) {
    auto words = split_words(vm_flags);
    return std::find(words.begin(), words.end(), flag) != words.end();
}

image::Vma to_vma(const MapsLine& line) {
    image::Vma vma;
    vma.start = line.start;
    vma.end = line.end;
    const std::string& perms = line.perms;
    if (perms.size() > 0 && perms[0] == 'r') vma.prot |= PROT_READ;
    if (perms.size() > 1 && perms[1] == 'w') vma.prot |= PROT_WRITE;
    if (perms.size() > 2 && perms[2] == 'x') vma.prot |= PROT_EXEC;
    bool shared = perms.size() > 3 && perms[3] == 's';
    vma.flags = shared ? MAP_SHARED : MAP_PRIVATE;
    if (has_vm_flag(line.vm_flags, "gd")) vma.flags |= MAP_GROWSDOWN;

    auto special = std::find_if(kSpecialVmas.begin(), kSpecialVmas.end(),
                                [&](const SpecialVma& entry) { return entry.name == line.path; });
    if (special != kSpecialVmas.end()) {
        vma.kind = special->kind;
        vma.path = line.path;
    } else if (line.path.empty() || line.path.front() == '[' ||
               (shared && line.path == kSharedAnonName)) {
        vma.kind = image::VmaKind::Anon;
        if (line.path != kSharedAnonName) vma.path = line.path;
    } else {
        vma.kind = image::VmaKind::File;
        vma.path = line.path;
        vma.pgoff = line.offset;
        vma.dev = makedev(line.major, line.minor);
        vma.ino = line.inode;
    }
    if (vma.kind != image::VmaKind::File) vma.flags |= MAP_ANONYMOUS;
    return vma;
}

Result<std::vector<int>> list_fds(pid_t pid) {
    std::string path = proc_path(pid, "fd");
    DIR* dir = opendir(path.c_str());
    if (!dir) return make_error(errno, "opendir {}: {}", path, std::strerror(errno));
    std::vector<int> fds;
    while (dirent* entry = readdir(dir)) {
        int fd = 0;
        const char* end = entry->d_name + std::strlen(entry->d_name);
        auto [ptr, ec] = std::from_chars(entry->d_name, end, fd);
        if (ec == std::errc() && ptr == end) fds.push_back(fd);
    }
    closedir(dir);
    std::sort(fds.begin(), fds.end());
    return fds;
}

Result<image::FileDesc> collect_file(pid_t pid, int fd) {
    image::FileDesc file;
    file.fd = fd;
    std::string link = fmt::format("/proc/{}/fd/{}", pid, fd);
    file.path = CRIB_TRY(read_proc_link(link));
    struct stat st {};
    if (stat(link.c_str(), &st) != 0)
        return make_error(errno, "stat {} ({}): {}", link, file.path, std::strerror(errno));
    file.dev = st.st_dev;
    file.ino = st.st_ino;
    file.mode = st.st_mode;
    file.kind = file_kind(file.path, st.st_mode, file.path == kEventfdPath);

    std::string info_path = fmt::format("/proc/{}/fdinfo/{}", pid, fd);
    std::string info = CRIB_TRY(read_proc_file(info_path));
    auto pos = find_field(info, "pos");
    auto flags = find_field(info, "flags");
    if (!pos || !flags) return make_error(EINVAL, "{}: no pos or flags line", info_path);
    file.pos = CRIB_TRY(parse_number(*pos, 10, info_path + " pos"));
    file.flags = static_cast<uint32_t>(CRIB_TRY(parse_number(*flags, 8, info_path + " flags")));

    if (file.kind == image::FileKind::Pipe) file.data = CRIB_TRY(read_pipe_data(pid, fd));
    if (file.kind == image::FileKind::Eventfd) {
        EventfdState eventfd = CRIB_TRY(read_eventfd(pid, fd));
        file.eventfd_count = eventfd.count;
        file.eventfd_flags = eventfd.flags;
    }
    return file;
}

}  // namespace

Result<void> collect_procfs(const Freezer& freezer, image::Process& out) {
    pid_t pid = freezer.pid();
    match_threads(freezer, out);
    CRIB_TRY(collect_identity(pid, out.task));
    CRIB_TRY(collect_status(pid, out.task));
    CRIB_TRY(collect_injected(freezer, out));

    out.vmas.clear();
    for (const MapsLine& line : CRIB_TRY(read_smaps(pid))) out.vmas.push_back(to_vma(line));

    out.files.clear();
    for (int fd : CRIB_TRY(list_fds(pid))) out.files.push_back(CRIB_TRY(collect_file(pid, fd)));
    return {};
}

image::FileKind file_kind(std::string_view path, mode_t mode, bool is_eventfd) {
    if (is_eventfd) return image::FileKind::Eventfd;
    // Other anonymous-inode files (signalfd, timerfd, epoll...) cannot be
    // restored yet, whatever mode their inode shows.
    if (path.starts_with(kAnonInodePrefix)) return image::FileKind::Unsupported;
    for (const FileType& type : kFileTypes)
        if ((mode & S_IFMT) == type.type) return type.kind;
    return image::FileKind::Unsupported;
}

}  // namespace crib::proc
