// core.img on disk: written whole to a temporary file and renamed over, read
// whole after a size check. The bytes themselves are image.cpp's business.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "crib/image/image.hpp"

namespace crib::image {
namespace {

class Fd {
public:
    explicit Fd(int fd) : m_fd(fd) {}
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() {
        if (m_fd >= 0) ::close(m_fd);
    }
    int get() const { return m_fd; }
    // Closes now, so that a late write error (NFS, quota) is seen.
    int close() { return ::close(std::exchange(m_fd, -1)); }

private:
    int m_fd;
};

Error os_error(std::string_view what, const std::string& path) {
    int code = errno;
    return make_error(code, "{} {}: {}", what, path, std::strerror(code));
}

Result<void> write_whole(const std::string& path, int fd, std::span<const uint8_t> bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return os_error("cannot write", path);
        done += size_t(n);
    }
    if (::fsync(fd) != 0) return os_error("cannot sync", path);
    return {};
}

// The rename is durable only once the directory entry is on disk too.
Result<void> sync_directory(const std::string& dir) {
    Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (fd.get() < 0) return os_error("cannot open image directory", dir);
    if (::fsync(fd.get()) != 0) return os_error("cannot sync image directory", dir);
    return {};
}

}  // namespace

Result<void> write_core(const std::string& dir, const Image& image) {
    auto bytes = CRIB_TRY(encode_core(image));
    std::string path = dir + "/" + std::string(kCoreFile);
    // Hidden and unique, so a reader never mistakes it for an image and two
    // writers never share it. mkostemp's 0600 suits a file that holds a
    // process's registers and pipe contents.
    std::string temp = dir + "/." + std::string(kCoreFile) + ".XXXXXX";
    Fd fd(::mkostemp(temp.data(), O_CLOEXEC));
    if (fd.get() < 0) return os_error("cannot create a temporary file in image directory", dir);
    auto written = write_whole(temp, fd.get(), bytes);
    if (written && fd.close() != 0) written = os_error("cannot close", temp);
    if (written && ::rename(temp.c_str(), path.c_str()) != 0)
        written = os_error(fmt::format("cannot rename {} to", temp), path);
    if (!written) {
        ::unlink(temp.c_str());
        return written;
    }
    return sync_directory(dir);
}

Result<Image> read_core(const std::string& dir) {
    std::string path = dir + "/" + std::string(kCoreFile);
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (fd.get() < 0) {
        if (errno == ENOENT)
            return make_error(ENOENT, "no image in {}: {} does not exist", dir, path);
        return os_error("cannot open", path);
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) return os_error("cannot stat", path);
    if (!S_ISREG(st.st_mode)) return make_error(EINVAL, "{} is not a regular file", path);
    if (uint64_t(st.st_size) > kMaxCoreBytes)
        return make_error(EFBIG,
                          "{}: offset {}: {} bytes is more than the {} a core image may hold", path,
                          kMaxCoreBytes, st.st_size, kMaxCoreBytes);
    std::vector<uint8_t> bytes(size_t(st.st_size));
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::pread(fd.get(), bytes.data() + done, bytes.size() - done, off_t(done));
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return os_error("cannot read", path);
        if (n == 0) break;  // shrank under us: decoding names the truncation
        done += size_t(n);
    }
    bytes.resize(done);
    return decode_core(bytes, path);
}

}  // namespace crib::image
