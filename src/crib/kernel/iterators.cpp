#include "crib/kernel/iterators.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>

#include "base/embed.hpp"
#include "btf/libbpf_capture.hpp"

namespace crib::kernel {
namespace {

using btf::libbpf_error;
using btf::LibbpfCapture;

// What one read() may take; the kernel hands back at most its seq_file
// buffer (32 KiB) per call anyway.
constexpr size_t kReadChunk = 64 * 1024;

Result<std::vector<uint8_t>> read_all(int fd, std::string_view program, pid_t pid) {
    std::vector<uint8_t> out;
    std::vector<uint8_t> chunk(kReadChunk);
    for (;;) {
        ssize_t n = read(fd, chunk.data(), chunk.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            int err = errno;
            if (err == E2BIG)
                return make_error(err, "pid {}: iterator {} wrote a record over 32 KiB", pid,
                                  program);
            return make_error(err, "pid {}: reading iterator {}: {}", pid, program,
                              errno_name(err));
        }
        if (n == 0) return out;
        out.insert(out.end(), chunk.begin(), chunk.begin() + n);
    }
}

// libbpf's object loaded into the kernel; its programs' descriptors
// (duplicated: closing the object closes its own) in kIterators order.
Result<std::vector<Fd>> load_programs() {
    if (access("/sys/kernel/btf/vmlinux", R_OK) != 0)
        return make_error(ENOENT,
                          "the kernel has no BTF (/sys/kernel/btf/vmlinux): "
                          "its iterators cannot be relocated (CO-RE)");
    LibbpfCapture capture;
    std::span<const uint8_t> bytes = collect_object_bytes();
    LIBBPF_OPTS(bpf_object_open_opts, options, .object_name = "crib_collect");
    errno = 0;
    struct bpf_object* object = bpf_object__open_mem(bytes.data(), bytes.size(), &options);
    if (!object) return libbpf_error(errno, "cannot open the collector's BPF object");
    std::unique_ptr<struct bpf_object, void (*)(struct bpf_object*)> owner(object,
                                                                           bpf_object__close);
    if (int err = bpf_object__load(object); err != 0) {
        if (err == -EPERM || err == -EACCES)
            return libbpf_error(err,
                                "loading BPF iterators needs CAP_BPF and CAP_PERFMON "
                                "(or CAP_SYS_ADMIN)");
        return libbpf_error(err, "the kernel refused the collector's iterators");
    }
    std::vector<Fd> programs;
    for (std::string_view name : kIterators) {
        std::string text(name);
        struct bpf_program* prog = bpf_object__find_program_by_name(object, text.c_str());
        if (!prog) return make_error(ENOENT, "the collector's object has no program {}", name);
        Fd fd(fcntl(bpf_program__fd(prog), F_DUPFD_CLOEXEC, 0));
        if (!fd) return make_error(errno, "dup of program {}: {}", name, errno_name(errno));
        programs.push_back(std::move(fd));
    }
    return programs;
}

// Holds an exclusive flock on a pin directory (or nothing) for its scope.
class DirLock {
public:
    explicit DirLock(const Fd& dir) : m_fd(dir.get()) {
        if (m_fd >= 0)
            while (flock(m_fd, LOCK_EX) != 0 && errno == EINTR) {
            }
    }
    ~DirLock() {
        if (m_fd >= 0) flock(m_fd, LOCK_UN);
    }
    DirLock(const DirLock&) = delete;
    DirLock& operator=(const DirLock&) = delete;

private:
    int m_fd;
};

}  // namespace

// CRIB_COLLECT_BPF_OBJECT: the object's path in the build tree.
CRIB_EMBED_FILE(collect_object_bytes, CRIB_COLLECT_BPF_OBJECT)

Result<std::unique_ptr<IteratorObject>> IteratorObject::load(std::string_view pin_root) {
    std::string key = pin_root.empty() ? std::string() : pin_key(collect_object_bytes());
    if (!pin_root.empty())
        if (auto pinned = open_pinned(pin_root, key, kIterators))
            return std::unique_ptr<IteratorObject>(new IteratorObject(
                std::move(pinned->programs), std::move(pinned->dir), Origin::Pinned));
    std::vector<Fd> programs = CRIB_TRY(load_programs());
    if (pin_root.empty())
        return std::unique_ptr<IteratorObject>(
            new IteratorObject(std::move(programs), Fd(), Origin::Loaded));
    std::vector<int> fds;
    for (const Fd& fd : programs) fds.push_back(fd.get());
    std::optional<Fd> published = publish_pinned(pin_root, key, kIterators, fds);
    Origin origin = published ? Origin::Published : Origin::Loaded;
    return std::unique_ptr<IteratorObject>(
        new IteratorObject(std::move(programs), published ? std::move(*published) : Fd(), origin));
}

Result<IteratorObject*> IteratorObject::shared() {
    static std::mutex lock;
    static std::unique_ptr<IteratorObject> object;
    std::lock_guard guard(lock);
    if (!object) object = CRIB_TRY(load());
    return object.get();
}

Result<std::vector<uint8_t>> IteratorObject::run(std::string_view program, pid_t pid) {
    auto found = std::find(kIterators.begin(), kIterators.end(), program);
    if (found == kIterators.end())
        return make_error(ENOENT, "the collector's object has no program {}", program);
    int prog = m_programs[static_cast<size_t>(found - kIterators.begin())].get();

    std::lock_guard guard(m_run_lock);
    DirLock across_processes(m_shared_dir);
    union bpf_iter_link_info info {};
    info.task.pid = static_cast<uint32_t>(pid);
    LIBBPF_OPTS(bpf_link_create_opts, options, .iter_info = &info, .iter_info_len = sizeof info);
    Fd link(bpf_link_create(prog, 0, BPF_TRACE_ITER, &options));
    if (!link)
        return make_error(errno, "pid {}: cannot attach iterator {}: {}", pid, program,
                          errno_name(errno));
    Fd iter(bpf_iter_create(link.get()));
    if (!iter)
        return make_error(errno, "pid {}: cannot create iterator {}: {}", pid, program,
                          errno_name(errno));
    return read_all(iter.get(), program, pid);
}

}  // namespace crib::kernel
