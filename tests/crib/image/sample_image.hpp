// An image with every field set to something other than its default, for the
// image tests and the fuzz target's seed corpus.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/sysmacros.h>

#include <cstring>

#include "crib/image/image.hpp"
#include "crib/image/names.hpp"

namespace crib::image::test_data {

inline PendingSignal sample_siginfo(int32_t signo, int32_t code) {
    PendingSignal signal;
    std::memcpy(signal.siginfo.data(), &signo, sizeof signo);
    std::memcpy(signal.siginfo.data() + 8, &code, sizeof code);
    for (size_t i = 16; i < signal.siginfo.size(); ++i) signal.siginfo[i] = uint8_t(i);
    return signal;
}

inline Image rich_image() {
    Image image;
    image.info = {"procfs", "6.18.0-crib", 1'795'000'000'123'456'789, 3 * kPageSize};

    Task& task = image.process.task;
    task.pid = 4242;
    task.ppid = 1;
    task.pgid = 4240;
    task.sid = 4200;
    task.comm = "sample";
    task.exe = "/usr/bin/sample";
    task.cwd = "/home/crib";
    task.root = "/";
    task.umask = 027;
    task.personality = 0x0040000;
    task.creds.uids = {1000, 1001, 1002, 1003};
    task.creds.gids = {100, 101, 102, 103};
    task.creds.groups = {4, 24, 27};
    task.creds.cap_inheritable = 0x1;
    task.creds.cap_permitted = 0x3;
    task.creds.cap_effective = 0x2;
    task.creds.cap_bounding = 0x1ffffffffff;
    task.creds.cap_ambient = 0x4;
    for (size_t i = 0; i < task.rlimits.size(); ++i)
        task.rlimits[i] = {1000 + i, i % 2 ? ~uint64_t{0} : 2000 + i};
    task.sigactions[2 - 1] = {0x401136, SA_SIGINFO | SA_RESTART | 0x04000000, 0x7f0000001000,
                              1u << (15 - 1)};
    task.sigactions[13 - 1] = {1, 0, 0, 0};
    task.shared_pending = {sample_siginfo(10, -6)};
    task.itimers[0] = {250'000, 1'500'000};
    task.itimers[2] = {0, 20'000};
    task.mm = {0x400000,       0x401000,       0x402000,       0x403000,
               0x1000000,      0x1021000,      0x7ffd0000f000, 0x7ffd0000e000,
               0x7ffd0000e100, 0x7ffd0000e100, 0x7ffd0000e800, {33, 0x7ffd00100000, 6, 4096, 0, 0}};

    Thread leader;
    leader.tid = 4242;
    for (size_t i = 0; i < leader.regs.size(); ++i) leader.regs[i] = 0x1000 + i;
    leader.regs[register_index("rip")] = 0x401200;
    leader.regs[register_index("rsp")] = 0x7ffd0000d000;
    leader.xstate = {1, 2, 3, 4, 5, 6, 7, 8};
    leader.blocked = (1u << (2 - 1)) | (1u << (15 - 1));
    leader.pending = {sample_siginfo(12, 0), sample_siginfo(34, -1)};
    leader.altstack = {0x7f0000100000, 8192, 1u << 31};
    leader.rseq = {0x7f0000200020, 32, 1, 0x53053053};
    leader.clear_child_tid = 0x7f0000300990;
    Thread worker = leader;
    worker.tid = 4243;
    worker.pending = {};
    worker.regs[register_index("rip")] = 0x401300;
    image.process.threads = {leader, worker};

    auto vma = [](uint64_t start, uint64_t end, uint32_t prot, uint32_t flags, VmaKind kind,
                  std::string path) {
        Vma v;
        v.start = start;
        v.end = end;
        v.prot = prot;
        v.flags = flags;
        v.kind = kind;
        v.path = std::move(path);
        return v;
    };
    Vma text = vma(0x400000, 0x401000, PROT_READ | PROT_EXEC, MAP_PRIVATE, VmaKind::File,
                   "/usr/bin/sample");
    text.pgoff = 0x1000;
    text.dev = makedev(8, 1);
    text.ino = 131;
    Vma heap = vma(0x1000000, 0x1021000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                   VmaKind::Heap, "[heap]");
    heap.pages = {{0x1000000, 2 * kPageSize, 0, 0x1234567890abcdef},
                  {0x1010000, kPageSize, 2 * kPageSize, 0xfedcba0987654321}};
    Vma shared = vma(0x7f0000000000, 0x7f0000004000, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, VmaKind::Anon, "/dev/zero (deleted)");
    Vma stack = vma(0x7ffd00000000, 0x7ffd00010000, PROT_READ | PROT_WRITE,
                    MAP_PRIVATE | MAP_ANONYMOUS | MAP_GROWSDOWN, VmaKind::Stack, "[stack]");
    Vma vdso = vma(0x7ffd00100000, 0x7ffd00102000, PROT_READ | PROT_EXEC, MAP_PRIVATE,
                   VmaKind::Vdso, "[vdso]");
    image.process.vmas = {text, heap, shared, stack, vdso};

    FileDesc tty;
    tty.fd = 0;
    tty.kind = FileKind::CharDevice;
    tty.flags = O_RDWR | O_APPEND;
    tty.pos = 17;
    tty.path = "/dev/pts/3";
    tty.dev = makedev(0, 25);
    tty.ino = 6;
    tty.mode = 020620;
    FileDesc pipe;
    pipe.fd = 3;
    pipe.kind = FileKind::Pipe;
    pipe.flags = O_RDONLY | O_CLOEXEC;
    pipe.path = "pipe:[98765]";
    pipe.dev = makedev(0, 14);
    pipe.ino = 98765;
    pipe.mode = 010600;
    pipe.data = {'h', 'e', 'l', 'l', 'o'};
    FileDesc counter;
    counter.fd = 4;
    counter.kind = FileKind::Eventfd;
    counter.flags = O_RDWR | O_NONBLOCK;
    counter.path = "anon_inode:[eventfd]";
    counter.eventfd_count = 3;
    counter.eventfd_flags = EFD_SEMAPHORE | EFD_NONBLOCK;
    FileDesc dir;
    dir.fd = 5;
    dir.kind = FileKind::Directory;
    dir.flags = O_RDONLY | O_DIRECTORY;
    dir.path = "/tmp";
    FileDesc socket;
    socket.fd = 6;
    socket.kind = FileKind::Unsupported;
    socket.path = "socket:[1]";
    FileDesc regular;
    regular.fd = 7;
    regular.kind = FileKind::Regular;
    regular.flags = O_WRONLY | O_CREAT;
    regular.pos = 4096;
    regular.path = "/var/log/sample.log";
    regular.mode = 0100644;
    image.process.files = {tty, pipe, counter, dir, socket, regular};
    return image;
}

}  // namespace crib::image::test_data
