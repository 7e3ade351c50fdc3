#include "crib/restore/files.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <set>

namespace crib::restore {

namespace {

// Flags open(2) must not see again: the file exists now, and O_CLOEXEC is
// applied to the final number.
constexpr int kNotReopened = O_CREAT | O_TRUNC | O_EXCL | O_CLOEXEC;
// Status flags F_SETFL may change on an open description.
constexpr int kStatusFlags = O_APPEND | O_NONBLOCK | O_ASYNC | O_DIRECT | O_NOATIME;

// An fd the child owns and closes unless it is handed over.
class Fd {
public:
    explicit Fd(int fd = -1) : m_fd(fd) {}
    Fd(Fd&& o) noexcept : m_fd(std::exchange(o.m_fd, -1)) {}
    Fd& operator=(Fd&& o) noexcept {
        std::swap(m_fd, o.m_fd);
        return *this;
    }
    ~Fd() {
        if (m_fd >= 0) close(m_fd);
    }
    int get() const { return m_fd; }
    // Gives up ownership: the fd stays open.
    int release() { return std::exchange(m_fd, -1); }

private:
    int m_fd;
};

std::string fd_link(int fd) {
    char buf[256];
    ssize_t n = readlink(fmt::format("/proc/self/fd/{}", fd).c_str(), buf, sizeof(buf) - 1);
    return n > 0 ? std::string(buf, n) : std::string();
}

std::vector<int> own_fds() {
    std::vector<int> out;
    DIR* dir = opendir("/proc/self/fd");
    if (!dir) return out;
    int self = dirfd(dir);
    while (dirent* e = readdir(dir)) {
        if (e->d_name[0] == '.') continue;
        int fd = atoi(e->d_name);
        if (fd != self) out.push_back(fd);
    }
    closedir(dir);
    return out;
}

int access_mode(uint32_t flags) {
    return flags & O_ACCMODE;
}

Error fd_error(const image::FileDesc& file, const char* what) {
    return make_error(errno, "fd {}: {} '{}': {}", file.fd, what, file.path, strerror(errno));
}

// Builds the saved objects at temporary numbers above every saved one.
class Builder {
public:
    Builder(int floor, std::map<std::string, int> inherited_pipes)
        : m_floor(floor), m_inherited(std::move(inherited_pipes)) {}

    Result<Fd> build(const image::FileDesc& file, const std::vector<image::FileDesc>& all) {
        if (file.kind == image::FileKind::Eventfd) {
            int fd = eventfd(file.eventfd_count, file.eventfd_flags | EFD_CLOEXEC);
            if (fd < 0) return fd_error(file, "cannot create eventfd");
            return raise(Fd(fd), file);
        }
        if (file.kind == image::FileKind::Pipe && file.path.starts_with("pipe:["))
            return pipe_end(file, all);
        if (file.kind == image::FileKind::Pipe) return fifo(file);
        // O_NOCTTY: a terminal reopened by the new session leader must not
        // become its controlling terminal behind its back.
        int fd = open(file.path.c_str(), (file.flags & ~kNotReopened) | O_NOCTTY | O_CLOEXEC);
        if (fd < 0) return fd_error(file, "cannot reopen");
        Fd out(fd);
        bool seekable = file.kind == image::FileKind::Regular && !(file.flags & O_PATH);
        if (seekable && lseek(fd, file.pos, SEEK_SET) < 0)
            return fd_error(file, fmt::format("cannot seek to {} in", file.pos).c_str());
        // A directory's position is where readdir goes on; a file system
        // that cannot seek there restarts it from the beginning.
        if (file.kind == image::FileKind::Directory && file.pos) lseek(fd, file.pos, SEEK_SET);
        return raise(std::move(out), file);
    }

private:
    Result<Fd> raise(Fd fd, const image::FileDesc& file) { return place(fd.get(), file); }

    // A copy of `source` at the file's own number when that number is free,
    // else above every saved number (placed at the end). Parking every file
    // above the saved numbers first would need twice the fds: 10,000 open
    // files against a limit of 20,000 would not fit.
    Result<Fd> place(int source, const image::FileDesc& file) {
        if (fcntl(file.fd, F_GETFD) < 0 && errno == EBADF) {
            if (dup2(source, file.fd) < 0) return fd_error(file, "cannot place");
            return Fd(file.fd);
        }
        int high = fcntl(source, F_DUPFD_CLOEXEC, m_floor);
        if (high < 0) return fd_error(file, "cannot renumber");
        return Fd(high);
    }

    Result<Fd> set_status(Fd fd, const image::FileDesc& file) {
        if (fcntl(fd.get(), F_SETFL, file.flags & kStatusFlags) < 0)
            return fd_error(file, "cannot set status flags on");
        return raise(std::move(fd), file);
    }

    // A FIFO opens without blocking once this process holds it read-write;
    // its bytes in flight went with the dumped process and are written
    // back once.
    Result<Fd> fifo(const image::FileDesc& file) {
        Fd both(open(file.path.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC));
        if (both.get() < 0) return fd_error(file, "cannot open FIFO");
        Fd fd(open(file.path.c_str(), access_mode(file.flags) | O_NONBLOCK | O_CLOEXEC));
        if (fd.get() < 0) return fd_error(file, "cannot open FIFO");
        if (!file.data.empty() && m_filled_fifos.insert(file.path).second)
            CRIB_TRY(fill(both, file));
        return set_status(std::move(fd), file);
    }

    // One pipe per saved pipe inode. When the restoring process still holds
    // that very pipe (its other end lives on outside the image), the end is
    // reopened through /proc and the bytes in flight are still in it;
    // otherwise a new pipe gets the saved bytes, and an end the image lacks
    // is dropped, as its holder is gone.
    Result<Fd> pipe_end(const image::FileDesc& file, const std::vector<image::FileDesc>& all) {
        if (auto it = m_inherited.find(file.path); it != m_inherited.end()) {
            Fd fd(open(fmt::format("/proc/self/fd/{}", it->second).c_str(),
                       access_mode(file.flags) | O_NONBLOCK | O_CLOEXEC));
            if (fd.get() < 0) return fd_error(file, "cannot reopen the inherited pipe");
            return set_status(std::move(fd), file);
        }
        auto it = m_pipes.find(file.path);
        if (it == m_pipes.end()) {
            int ends[2];
            if (pipe2(ends, O_CLOEXEC) < 0) return fd_error(file, "cannot create pipe for");
            Fd read_end(ends[0]), write_end(ends[1]);
            auto with_data = std::find_if(all.begin(), all.end(), [&](const image::FileDesc& f) {
                return f.path == file.path && !f.data.empty();
            });
            if (with_data != all.end()) CRIB_TRY(fill(write_end, *with_data));
            it = m_pipes.emplace(file.path, std::pair{std::move(read_end), std::move(write_end)})
                     .first;
        }
        const Fd& end = access_mode(file.flags) == O_RDONLY ? it->second.first : it->second.second;
        Fd fd = CRIB_TRY(place(end.get(), file));
        if (fcntl(fd.get(), F_SETFL, file.flags & kStatusFlags) < 0)
            return fd_error(file, "cannot set status flags on");
        return fd;
    }

    Result<void> fill(const Fd& write_end, const image::FileDesc& file) {
        if (file.data.size() > 65536 &&
            fcntl(write_end.get(), F_SETPIPE_SZ, static_cast<int>(file.data.size())) < 0)
            return fd_error(
                file, fmt::format("cannot hold {} bytes in flight in", file.data.size()).c_str());
        size_t done = 0;
        while (done < file.data.size()) {
            ssize_t n = write(write_end.get(), file.data.data() + done, file.data.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return fd_error(file, "cannot refill");
            done += n;
        }
        return {};
    }

    int m_floor;
    std::map<std::string, int> m_inherited;
    std::map<std::string, std::pair<Fd, Fd>> m_pipes;  // path -> read end, write end
    std::set<std::string> m_filled_fifos;
};

}  // namespace

Result<void> restore_files(const std::vector<image::FileDesc>& files, std::vector<int*> helpers) {
    int top = 2;
    for (const image::FileDesc& f : files) top = std::max(top, f.fd);
    int floor = top + 1;
    // Room for the saved numbers and the helpers above them; the saved
    // limits are set after the files are in place.
    rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < rlim_t(floor) + 64) {
        nofile.rlim_cur = std::min<rlim_t>(nofile.rlim_max, rlim_t(floor) + 64);
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
    for (int* helper : helpers) {
        if (*helper >= floor) continue;
        int moved = fcntl(*helper, F_DUPFD_CLOEXEC, floor);
        if (moved < 0)
            return make_error(errno, "cannot move helper fd {} above {}: {}", *helper, top,
                              strerror(errno));
        close(*helper);
        *helper = moved;
    }
    std::set<int> keep;
    for (int* helper : helpers) keep.insert(*helper);

    std::map<std::string, int> inherited_pipes;
    for (int fd : own_fds()) {
        std::string link = fd_link(fd);
        if (!keep.count(fd) && link.starts_with("pipe:[")) inherited_pipes.emplace(link, fd);
    }

    std::vector<Fd> built;
    {
        // The builder's own pipe ends close with it; the inherited ones are
        // closed below like every other fd that is not in the image.
        Builder builder(floor, std::move(inherited_pipes));
        for (const image::FileDesc& file : files) {
            built.push_back(CRIB_TRY(builder.build(file, files)));
            keep.insert(built.back().get());
        }
    }
    for (int fd : own_fds())
        if (!keep.count(fd)) close(fd);
    for (size_t i = 0; i < files.size(); i++) {
        const image::FileDesc& file = files[i];
        if (built[i].get() == file.fd) {
            built[i].release();  // placed at its number while building
        } else if (dup2(built[i].get(), file.fd) < 0) {
            return fd_error(file, "cannot place");
        }
        if ((file.flags & O_CLOEXEC) && fcntl(file.fd, F_SETFD, FD_CLOEXEC) < 0)
            return fd_error(file, "cannot set close-on-exec on");
    }
    return {};
}

}  // namespace crib::restore
