#include "crib/kernel/iterators.hpp"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "btf/libbpf_capture.hpp"

// The object file, placed in .rodata at compile time (CRIB_COLLECT_BPF_OBJECT
// is its path in the build tree; CMake recompiles this file when it changes).
asm(".pushsection .rodata\n"
    ".balign 8\n"
    "crib_collect_bpf_begin:\n"
    ".incbin \"" CRIB_COLLECT_BPF_OBJECT
    "\"\n"
    "crib_collect_bpf_end:\n"
    ".popsection\n");
extern "C" const uint8_t crib_collect_bpf_begin[];
extern "C" const uint8_t crib_collect_bpf_end[];

namespace crib::kernel {
namespace {

using btf::libbpf_error;
using btf::LibbpfCapture;

// What one read() may take; the kernel hands back at most its seq_file
// buffer (32 KiB) per call anyway.
constexpr size_t kReadChunk = 64 * 1024;

// Closes a descriptor when the scope ends.
class Fd {
public:
    explicit Fd(int fd) : m_fd(fd) {}
    ~Fd() {
        if (m_fd >= 0) close(m_fd);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return m_fd; }

private:
    int m_fd;
};

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

}  // namespace

std::span<const uint8_t> collect_object_bytes() {
    return {crib_collect_bpf_begin,
            static_cast<size_t>(crib_collect_bpf_end - crib_collect_bpf_begin)};
}

Result<std::unique_ptr<IteratorObject>> IteratorObject::load() {
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
    std::unique_ptr<IteratorObject> loaded(new IteratorObject(object));
    if (int err = bpf_object__load(object); err != 0) {
        if (err == -EPERM || err == -EACCES)
            return libbpf_error(err,
                                "loading BPF iterators needs CAP_BPF and CAP_PERFMON "
                                "(or CAP_SYS_ADMIN)");
        return libbpf_error(err, "the kernel refused the collector's iterators");
    }
    return loaded;
}

Result<IteratorObject*> IteratorObject::shared() {
    static std::mutex lock;
    static std::unique_ptr<IteratorObject> object;
    std::lock_guard guard(lock);
    if (!object) object = CRIB_TRY(load());
    return object.get();
}

IteratorObject::~IteratorObject() {
    bpf_object__close(m_object);
}

Result<std::vector<uint8_t>> IteratorObject::run(std::string_view program, pid_t pid) {
    std::string name(program);
    struct bpf_program* prog = bpf_object__find_program_by_name(m_object, name.c_str());
    if (!prog) return make_error(ENOENT, "the collector's object has no program {}", program);

    std::lock_guard guard(m_run_lock);
    LibbpfCapture capture;
    union bpf_iter_link_info info {};
    info.task.pid = static_cast<uint32_t>(pid);
    LIBBPF_OPTS(bpf_iter_attach_opts, options, .link_info = &info, .link_info_len = sizeof info);
    errno = 0;
    struct bpf_link* link = bpf_program__attach_iter(prog, &options);
    if (!link)
        return libbpf_error(errno, fmt::format("pid {}: cannot attach iterator {}", pid, program));
    std::unique_ptr<struct bpf_link, int (*)(struct bpf_link*)> link_owner(link, bpf_link__destroy);
    Fd iter(bpf_iter_create(bpf_link__fd(link)));
    if (iter.get() < 0)
        return make_error(errno, "pid {}: cannot create iterator {}: {}", pid, program,
                          errno_name(errno));
    return read_all(iter.get(), program, pid);
}

}  // namespace crib::kernel
