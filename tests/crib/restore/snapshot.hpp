// A small stand-in for crib's dump in the restore tests: it freezes a child
// of the test with ptrace and reads what /proc and ptrace give directly;
// the state only the process itself can read (signal actions, alternate
// stacks, clear_child_tid, timers) the child reports about itself in a
// SelfReport at the same address in its copy of the test binary. The
// restore tests check restore, not collection: crib::proc has its own.
#pragma once

#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/time.h>
#include <sys/uio.h>
#include <sys/user.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "crib/image/model.hpp"
#include "crib/image/pages_reader.hpp"
#include "crib/image/pages_writer.hpp"

namespace crib::restore::test {

inline constexpr int kMaxThreads = 4;

struct SelfReport {
    image::SigAction sigactions[image::kSignalCount];
    struct PerThread {
        pid_t tid;
        uint64_t clear_child_tid;
        stack_t altstack;
    } threads[kMaxThreads];
    uint64_t brk;
    itimerval itimers[3];
    rlimit rlimits[image::kRlimitCount];  // prlimit(pid) needs CAP_SYS_RESOURCE across uids
};

// Fills the calling thread's part of `report` (slot `index`).
inline void report_thread(SelfReport& report, int index) {
    report.threads[index].tid = static_cast<pid_t>(syscall(SYS_gettid));
    int* address = nullptr;
    prctl(PR_GET_TID_ADDRESS, &address);
    report.threads[index].clear_child_tid = reinterpret_cast<uint64_t>(address);
    sigaltstack(nullptr, &report.threads[index].altstack);
}

inline void report_process(SelfReport& report) {
    for (int sig = 1; sig <= static_cast<int>(image::kSignalCount); sig++)
        syscall(SYS_rt_sigaction, sig, nullptr, &report.sigactions[sig - 1], 8);
    report.brk = reinterpret_cast<uint64_t>(sbrk(0));
    for (int which = 0; which < 3; which++) getitimer(which, &report.itimers[which]);
    for (int r = 0; r < static_cast<int>(image::kRlimitCount); r++)
        getrlimit(static_cast<__rlimit_resource>(r), &report.rlimits[r]);
}

inline std::vector<pid_t> task_ids(pid_t pid) {
    std::vector<pid_t> tids{pid};
    DIR* dir = opendir(("/proc/" + std::to_string(pid) + "/task").c_str());
    while (dirent* e = dir ? readdir(dir) : nullptr) {
        pid_t tid = atoi(e->d_name);
        if (tid > 0 && tid != pid) tids.push_back(tid);
    }
    if (dir) closedir(dir);
    return tids;
}

inline std::string read_link(const std::string& path) {
    char buf[4096];
    ssize_t n = readlink(path.c_str(), buf, sizeof(buf));
    return n > 0 ? std::string(buf, n) : std::string();
}

inline std::string field(const std::string& file, const std::string& key) {
    std::ifstream in(file);
    std::string line;
    while (std::getline(in, line))
        if (line.rfind(key, 0) == 0) return line.substr(key.size());
    return "";
}

// Rewinds a thread stopped inside an interrupted syscall, as a dump must.
inline void rewind_syscall(user_regs_struct& regs) {
    long ret = static_cast<long>(regs.rax);
    if (static_cast<long>(regs.orig_rax) >= 0) {
        if (ret == -512 || ret == -513 || ret == -514) {
            regs.rax = regs.orig_rax;
            regs.rip -= 2;
        } else if (ret == -516) {
            regs.rax = -EINTR;
        }
    }
    regs.orig_rax = -1;
}

inline void snapshot_vmas(pid_t pid, image::Process& out, const std::string& dir) {
    auto pages = image::PagesWriter::create(dir);
    if (!pages) throw std::runtime_error(pages.error().message());
    std::string base = "/proc/" + std::to_string(pid);
    int mem = open((base + "/mem").c_str(), O_RDONLY);
    std::ifstream smaps(base + "/smaps");
    std::string line;
    image::Vma* vma = nullptr;
    while (std::getline(smaps, line)) {
        if (line.rfind("VmFlags:", 0) == 0) {
            if (line.find(" gd") != std::string::npos) vma->flags |= MAP_GROWSDOWN;
            continue;
        }
        auto dash = line.find('-');
        auto space = line.find(' ');
        if (dash == std::string::npos || space == std::string::npos || dash > space) continue;
        if (line.find(':') < dash) continue;
        std::istringstream in(line);
        std::string range, perms, offset, dev, inode, name;
        in >> range >> perms >> offset >> dev >> inode;
        std::getline(in >> std::ws, name);
        image::Vma v;
        v.start = std::stoull(range.substr(0, dash), nullptr, 16);
        v.end = std::stoull(range.substr(dash + 1), nullptr, 16);
        v.prot = (perms[0] == 'r' ? PROT_READ : 0) | (perms[1] == 'w' ? PROT_WRITE : 0) |
                 (perms[2] == 'x' ? PROT_EXEC : 0);
        v.flags = perms[3] == 's' ? MAP_SHARED : MAP_PRIVATE;
        v.pgoff = std::stoull(offset, nullptr, 16);
        v.ino = std::stoull(inode);
        v.path = name;
        if (name == "[heap]")
            v.kind = image::VmaKind::Heap;
        else if (name == "[stack]")
            v.kind = image::VmaKind::Stack;
        else if (name == "[vdso]")
            v.kind = image::VmaKind::Vdso;
        else if (name == "[vvar]" || name == "[vvar_vclock]")
            v.kind = image::VmaKind::Vvar;
        else if (name == "[vsyscall]")
            v.kind = image::VmaKind::Vsyscall;
        else if (!name.empty() && name[0] == '/')
            v.kind = image::VmaKind::File;
        else
            v.kind = image::VmaKind::Anon;
        if (v.kind != image::VmaKind::File) v.flags |= MAP_ANONYMOUS;
        out.vmas.push_back(v);
        vma = &out.vmas.back();
    }
    for (image::Vma& v : out.vmas) {
        bool saved = v.kind == image::VmaKind::Anon || v.kind == image::VmaKind::Heap ||
                     v.kind == image::VmaKind::Stack ||
                     (v.kind == image::VmaKind::File && (v.flags & MAP_PRIVATE));
        if (!saved || v.prot == PROT_NONE) continue;  // reservations and guards: never touched
        std::vector<char> bytes(v.end - v.start);
        if (pread(mem, bytes.data(), bytes.size(), v.start) != static_cast<ssize_t>(bytes.size()))
            continue;  // unreadable (guard pages): left untouched
        auto run = pages->append(v.start, bytes.data(), bytes.size());
        if (!run) throw std::runtime_error(run.error().message());
        v.pages.push_back(*run);
    }
    close(mem);
    auto done = pages->finish();
    if (!done) throw std::runtime_error(done.error().message());
}

// The bytes in flight in a pipe, copied with tee(2) so they stay in it.
inline std::vector<uint8_t> pipe_bytes(const std::string& link) {
    std::vector<uint8_t> out;
    int in = open(link.c_str(), O_RDONLY | O_NONBLOCK);
    int copy[2];
    if (in < 0 || pipe2(copy, O_NONBLOCK) != 0) return out;
    fcntl(copy[1], F_SETPIPE_SZ, 1 << 20);
    ssize_t n = tee(in, copy[1], 1 << 20, SPLICE_F_NONBLOCK);
    out.resize(n > 0 ? n : 0);
    if (n > 0 && read(copy[0], out.data(), n) != n) out.clear();
    close(in);
    close(copy[0]);
    close(copy[1]);
    return out;
}

inline void snapshot_files(pid_t pid, image::Process& out) {
    std::string base = "/proc/" + std::to_string(pid);
    DIR* dir = opendir((base + "/fd").c_str());
    while (dirent* e = readdir(dir)) {
        if (e->d_name[0] == '.') continue;
        image::FileDesc f;
        f.fd = atoi(e->d_name);
        f.path = read_link(base + "/fd/" + e->d_name);
        struct stat st;
        stat((base + "/fd/" + e->d_name).c_str(), &st);
        f.mode = st.st_mode;
        f.ino = st.st_ino;
        std::string info = base + "/fdinfo/" + e->d_name;
        f.pos = std::stoull(field(info, "pos:"));
        f.flags = std::stoul(field(info, "flags:"), nullptr, 8);
        if (f.path == "anon_inode:[eventfd]") {
            f.kind = image::FileKind::Eventfd;
            f.eventfd_count = std::stoull(field(info, "eventfd-count:"), nullptr, 16);
            f.eventfd_flags = f.flags & (O_NONBLOCK | 1 /* EFD_SEMAPHORE */);
        } else if (S_ISREG(st.st_mode)) {
            f.kind = image::FileKind::Regular;
        } else if (S_ISDIR(st.st_mode)) {
            f.kind = image::FileKind::Directory;
        } else if (S_ISCHR(st.st_mode)) {
            f.kind = image::FileKind::CharDevice;
        } else if (S_ISFIFO(st.st_mode)) {
            f.kind = image::FileKind::Pipe;
            f.data = pipe_bytes(base + "/fd/" + e->d_name);
        } else {
            f.kind = image::FileKind::Unsupported;
        }
        out.files.push_back(f);
    }
    closedir(dir);
    std::sort(out.files.begin(), out.files.end(),
              [](const auto& a, const auto& b) { return a.fd < b.fd; });
}

inline std::vector<image::PendingSignal> peek_signals(pid_t tid, uint32_t flags) {
    std::vector<image::PendingSignal> out;
    for (;;) {
        __ptrace_peeksiginfo_args args{out.size(), flags, 1};
        image::PendingSignal sig;
        if (ptrace(PTRACE_PEEKSIGINFO, tid, &args, sig.siginfo.data()) != 1) return out;
        out.push_back(sig);
    }
}

// Freezes `pid` (a child of the test), saves it to `dir` (pages.img) and
// returns its image, then kills and reaps it so its pid is free.
inline image::Process snapshot_and_kill(pid_t pid, const SelfReport* report_address,
                                        const std::string& dir) {
    image::Process out;
    std::vector<pid_t> tids = task_ids(pid);
    for (pid_t tid : tids) {
        if (ptrace(PTRACE_SEIZE, tid, 0, 0) != 0) throw std::runtime_error("seize failed");
        ptrace(PTRACE_INTERRUPT, tid, 0, 0);
        int status;
        waitpid(tid, &status, __WALL);
    }
    SelfReport report;
    iovec local{&report, sizeof(report)},
        remote{const_cast<SelfReport*>(report_address), sizeof(report)};
    if (process_vm_readv(pid, &local, 1, &remote, 1, 0) != sizeof(report))
        throw std::runtime_error("cannot read the child's self report");

    std::string base = "/proc/" + std::to_string(pid);
    image::Task& task = out.task;
    task.pid = pid;
    task.ppid = getpid();
    task.pgid = getpgid(pid);
    task.sid = getsid(pid);
    task.comm = field(base + "/status", "Name:\t");
    task.exe = read_link(base + "/exe");
    task.cwd = read_link(base + "/cwd");
    task.root = read_link(base + "/root");
    task.umask = std::stoul(field(base + "/status", "Umask:\t"), nullptr, 8);
    std::ifstream(base + "/personality") >> std::hex >> task.personality;
    std::istringstream uids(field(base + "/status", "Uid:\t")),
        gids(field(base + "/status", "Gid:\t"));
    for (int i = 0; i < 4; i++) uids >> task.creds.uids[i], gids >> task.creds.gids[i];
    std::istringstream groups(field(base + "/status", "Groups:\t"));
    for (uint32_t g; groups >> g;) task.creds.groups.push_back(g);
    task.creds.cap_inheritable = std::stoull(field(base + "/status", "CapInh:\t"), nullptr, 16);
    task.creds.cap_permitted = std::stoull(field(base + "/status", "CapPrm:\t"), nullptr, 16);
    task.creds.cap_effective = std::stoull(field(base + "/status", "CapEff:\t"), nullptr, 16);
    task.creds.cap_bounding = std::stoull(field(base + "/status", "CapBnd:\t"), nullptr, 16);
    task.creds.cap_ambient = std::stoull(field(base + "/status", "CapAmb:\t"), nullptr, 16);
    for (size_t r = 0; r < image::kRlimitCount; r++)
        task.rlimits[r] = {report.rlimits[r].rlim_cur, report.rlimits[r].rlim_max};
    std::copy(std::begin(report.sigactions), std::end(report.sigactions), task.sigactions.begin());
    task.shared_pending = peek_signals(pid, PTRACE_PEEKSIGINFO_SHARED);
    auto us = [](const timeval& tv) { return uint64_t(tv.tv_sec) * 1000000 + tv.tv_usec; };
    for (int which = 0; which < 3; which++)
        task.itimers[which] = {us(report.itimers[which].it_interval),
                               us(report.itimers[which].it_value)};

    std::ifstream stat_file(base + "/stat");
    std::string stat_text((std::istreambuf_iterator<char>(stat_file)), {});
    std::istringstream stat_fields(stat_text.substr(stat_text.rfind(')') + 2));
    std::vector<std::string> f{"", "", ""};  // fields 1 and 2 are before ')'
    for (std::string w; stat_fields >> w;) f.push_back(w);
    auto num = [&](int i) { return std::stoull(f[i]); };
    task.mm = {num(26), num(27), num(45), num(46), num(47), report.brk,
               num(28), num(48), num(49), num(50), num(51), {}};
    std::ifstream auxv(base + "/auxv", std::ios::binary);
    for (uint64_t word; auxv.read(reinterpret_cast<char*>(&word), 8);) task.mm.auxv.push_back(word);

    for (pid_t tid : tids) {
        image::Thread t;
        t.tid = tid;
        user_regs_struct regs;
        ptrace(PTRACE_GETREGS, tid, 0, &regs);
        rewind_syscall(regs);
        std::memcpy(t.regs.data(), &regs, sizeof(regs));
        t.xstate.resize(4096 * 4);
        iovec iov{t.xstate.data(), t.xstate.size()};
        ptrace(PTRACE_GETREGSET, tid, NT_X86_XSTATE, &iov);
        t.xstate.resize(iov.iov_len);
        ptrace(PTRACE_GETSIGMASK, tid, sizeof(t.blocked), &t.blocked);
        __ptrace_rseq_configuration rseq{};
        if (ptrace(PTRACE_GET_RSEQ_CONFIGURATION, tid, sizeof(rseq), &rseq) > 0)
            t.rseq = {rseq.rseq_abi_pointer, rseq.rseq_abi_size, rseq.flags, rseq.signature};
        t.pending = peek_signals(tid, 0);
        for (const auto& r : report.threads) {
            if (r.tid != tid) continue;
            t.clear_child_tid = r.clear_child_tid;
            t.altstack = {reinterpret_cast<uint64_t>(r.altstack.ss_sp), r.altstack.ss_size,
                          static_cast<uint32_t>(r.altstack.ss_flags)};
        }
        out.threads.push_back(t);
    }
    snapshot_vmas(pid, out, dir);
    snapshot_files(pid, out);
    kill(pid, SIGKILL);
    for (pid_t tid : tids)
        if (tid != pid) waitpid(tid, nullptr, __WALL);
    waitpid(pid, nullptr, __WALL);
    return out;
}

}  // namespace crib::restore::test
