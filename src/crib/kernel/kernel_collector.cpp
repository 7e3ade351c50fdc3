#include "crib/kernel/kernel_collector.hpp"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <tuple>

#include "crib/kernel/iterators.hpp"
#include "crib/kernel/records.hpp"
#include "crib/proc/file_state.hpp"
#include "crib/proc/procfs_read.hpp"
#include "crib/proc/ptrace_state.hpp"

namespace crib::kernel {
namespace {

// The vsyscall page is not in any mm's VMA tree (the kernel adds its
// gate VMA when printing /proc/PID/maps), so no iterator sees it. It is one
// system-wide page whose mode is fixed at boot, the same line for every
// 64-bit process: taken once from our own maps.
Result<std::optional<image::Vma>> gate_vma() {
    for (const proc::MapsLine& line : CRIB_TRY(proc::read_maps(getpid()))) {
        if (line.path != "[vsyscall]") continue;
        image::Vma vma;
        vma.start = line.start;
        vma.end = line.end;
        for (size_t bit = 0; bit < 3 && bit < line.perms.size(); ++bit)
            if (line.perms[bit] != '-')
                vma.prot |= std::array{PROT_READ, PROT_WRITE, PROT_EXEC}[bit];
        vma.flags = MAP_PRIVATE | MAP_ANONYMOUS;
        vma.kind = image::VmaKind::Vsyscall;
        vma.path = line.path;
        return std::optional<image::Vma>(std::move(vma));
    }
    return std::optional<image::Vma>();
}

Result<std::optional<image::Vma>> shared_gate_vma() {
    static Result<std::optional<image::Vma>> gate = gate_vma();
    return gate;
}

// A file mapped through overlayfs (or FUSE passthrough) is a "backing
// file": the VMA holds the layer's file, whose path bpf_d_path gives from
// the layer's private mount ("/f") and whose inode is the layer's, while
// /proc/PID/maps shows the path and inode the process opened. Telling such
// files apart in BPF needs an f_mode bit that moves between kernel
// releases; instead a mapped path must name the mapped inode from here, and
// one that does not is taken from /proc/PID/map_files as maps shows it.
Result<void> resolve_mapped_files(pid_t pid, std::vector<image::Vma>& vmas) {
    std::set<std::tuple<std::string, uint64_t, uint64_t>> checked;
    for (image::Vma& vma : vmas) {
        if (vma.kind != image::VmaKind::File) continue;
        if (checked.contains({vma.path, vma.dev, vma.ino})) continue;
        struct stat st {};
        if (stat(vma.path.c_str(), &st) == 0 && st.st_dev == vma.dev && st.st_ino == vma.ino) {
            checked.insert({vma.path, vma.dev, vma.ino});
            continue;
        }
        std::string link = fmt::format("/proc/{}/map_files/{:x}-{:x}", pid, vma.start, vma.end);
        vma.path = CRIB_TRY(proc::read_proc_link(link));
        if (stat(link.c_str(), &st) != 0)
            return make_error(errno, "stat {} ({}): {}", link, vma.path, errno_name(errno));
        vma.dev = st.st_dev;
        vma.ino = st.st_ino;
    }
    return {};
}

// The kernel lists every thread of the process; one the freezer does not
// hold would run on during the dump.
Result<void> check_threads(const proc::Freezer& freezer, const image::Process& out) {
    for (const image::Thread& thread : out.threads)
        if (std::find(freezer.threads().begin(), freezer.threads().end(), thread.tid) ==
            freezer.threads().end())
            return make_error(EAGAIN, "pid {}: thread {} is not frozen", freezer.pid(), thread.tid);
    return {};
}

}  // namespace

Result<void> available() {
    CRIB_TRY(IteratorObject::shared());
    return {};
}

Result<void> collect_kernel(const proc::Freezer& freezer, image::Process& out) {
    IteratorObject* object = CRIB_TRY(IteratorObject::shared());
    pid_t pid = freezer.pid();
    proc::match_threads(freezer, out);
    out.vmas.clear();
    out.files.clear();
    for (std::string_view program : kIterators) {
        std::vector<uint8_t> bytes = CRIB_TRY(object->run(program, pid));
        CRIB_TRY(decode_records(bytes, pid, out));
    }
    if (out.task.pid != pid)
        return make_error(ESRCH, "pid {}: the task iterator did not report the process", pid);
    CRIB_TRY(check_threads(freezer, out));

    CRIB_TRY(resolve_mapped_files(pid, out.vmas));
    if (auto gate = CRIB_TRY(shared_gate_vma())) out.vmas.push_back(*gate);
    std::sort(out.vmas.begin(), out.vmas.end(),
              [](const image::Vma& a, const image::Vma& b) { return a.start < b.start; });
    std::sort(out.files.begin(), out.files.end(),
              [](const image::FileDesc& a, const image::FileDesc& b) { return a.fd < b.fd; });
    // Reading a pipe's buffers in BPF is not worth it: tee(2) copies them.
    for (image::FileDesc& file : out.files)
        if (file.kind == image::FileKind::Pipe)
            file.data = CRIB_TRY(proc::read_pipe_data(pid, file.fd));
    return {};
}

}  // namespace crib::kernel
