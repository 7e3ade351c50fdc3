#include "crib/proc/file_state.hpp"

#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "crib/proc/procfs_read.hpp"

namespace crib::proc {
namespace {

static_assert(EFD_NONBLOCK == O_NONBLOCK && EFD_CLOEXEC == O_CLOEXEC);

class Fd {
public:
    explicit Fd(int fd = -1) : m_fd(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() {
        if (m_fd >= 0) close(m_fd);
    }
    int get() const { return m_fd; }

private:
    int m_fd;
};

}  // namespace

Result<std::vector<uint8_t>> read_pipe_data(pid_t pid, int fd) {
    std::string path = fmt::format("/proc/{}/fd/{}", pid, fd);
    // Non-blocking: a read-only open of a FIFO with no writer must not wait.
    Fd pipe_fd(open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (pipe_fd.get() < 0) return make_error(errno, "open {}: {}", path, std::strerror(errno));
    int queued = 0;
    if (ioctl(pipe_fd.get(), FIONREAD, &queued) != 0)
        return make_error(errno, "FIONREAD on {}: {}", path, std::strerror(errno));
    std::vector<uint8_t> data(static_cast<size_t>(queued));
    if (queued == 0) return data;

    int ends[2];
    if (pipe2(ends, O_CLOEXEC | O_NONBLOCK) != 0)
        return make_error(errno, "pipe for a copy of {}: {}", path, std::strerror(errno));
    Fd copy_read(ends[0]), copy_write(ends[1]);
    // tee copies whole pipe buffers: the copy needs as many slots as the source.
    int capacity = fcntl(pipe_fd.get(), F_GETPIPE_SZ);
    if (capacity < 0 || fcntl(copy_write.get(), F_SETPIPE_SZ, capacity) < 0)
        return make_error(errno, "sizing a copy of {} to {} bytes: {}", path, capacity,
                          std::strerror(errno));
    ssize_t copied = tee(pipe_fd.get(), copy_write.get(), data.size(), SPLICE_F_NONBLOCK);
    if (copied < 0) return make_error(errno, "tee from {}: {}", path, std::strerror(errno));
    if (static_cast<size_t>(copied) != data.size())
        return make_error(EIO, "tee from {}: copied {} of {} bytes in flight", path, copied,
                          data.size());
    size_t done = 0;
    while (done < data.size()) {
        ssize_t got = read(copy_read.get(), data.data() + done, data.size() - done);
        if (got <= 0)
            return make_error(got < 0 ? errno : EIO, "reading the copy of {}: {}", path,
                              got < 0 ? std::strerror(errno) : "short");
        done += static_cast<size_t>(got);
    }
    return data;
}

Result<EventfdState> read_eventfd(pid_t pid, int fd) {
    std::string path = fmt::format("/proc/{}/fdinfo/{}", pid, fd);
    std::string text = CRIB_TRY(read_proc_file(path));
    auto count = find_field(text, "eventfd-count");
    auto flags = find_field(text, "flags");
    if (!count || !flags) return make_error(EINVAL, "{}: not an eventfd's fdinfo", path);
    EventfdState state;
    state.count = CRIB_TRY(parse_number(*count, 16, path + " eventfd-count"));
    uint64_t file_flags = CRIB_TRY(parse_number(*flags, 8, path + " flags"));
    state.flags = static_cast<uint32_t>(file_flags & (O_NONBLOCK | O_CLOEXEC));
    if (find_field(text, "eventfd-semaphore").value_or("0") == "1") state.flags |= EFD_SEMAPHORE;
    return state;
}

}  // namespace crib::proc
