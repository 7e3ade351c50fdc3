#include "crib/restore/preflight.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <thread>

#include "crib/image/pages_reader.hpp"
#include "crib/restore/address_space.hpp"

namespace crib::restore {

namespace {

constexpr const char* kind_name(image::FileKind kind) {
    constexpr const char* kNames[] = {"regular file", "directory", "character device",
                                      "pipe",         "eventfd",   "unsupported file"};
    return kNames[static_cast<int>(kind)];
}

bool is_anonymous_pipe(const image::FileDesc& file) {
    return file.path.starts_with("pipe:[");
}

bool id_is_free(pid_t id) {
    if (kill(id, 0) == 0 || errno != ESRCH) return false;
    struct stat st;
    return stat(fmt::format("/proc/{}", id).c_str(), &st) != 0;
}

std::string comm_of(pid_t id) {
    std::ifstream in(fmt::format("/proc/{}/comm", id));
    std::string comm;
    std::getline(in, comm);
    return comm.empty() ? "an unknown process" : comm;
}

}  // namespace

Result<void> check_files(const image::Process& process) {
    for (const image::FileDesc& file : process.files) {
        if (file.fd < 0) return make_error(EINVAL, "fd {}: negative descriptor number", file.fd);
        switch (file.kind) {
            case image::FileKind::Eventfd:
                continue;
            case image::FileKind::Pipe:
                if (is_anonymous_pipe(file)) continue;
                break;
            case image::FileKind::Unsupported:
                return make_error(EOPNOTSUPP, "fd {}: {} '{}' cannot be restored", file.fd,
                                  kind_name(file.kind), file.path);
            default:
                break;
        }
        if (file.path.ends_with(" (deleted)"))
            return make_error(ENOENT, "fd {}: {} '{}' was deleted before the dump", file.fd,
                              kind_name(file.kind), file.path);
        struct stat st;
        if (stat(file.path.c_str(), &st) != 0)
            return make_error(errno, "fd {}: {} '{}' is missing: {}", file.fd, kind_name(file.kind),
                              file.path, strerror(errno));
    }
    return {};
}

Result<void> check_pages(const image::Process& process, const std::string& dir) {
    bool any = std::any_of(process.vmas.begin(), process.vmas.end(),
                           [](const image::Vma& vma) { return !vma.pages.empty(); });
    if (!any) return {};
    auto reader = CRIB_TRY(image::PagesReader::open(dir));
    return reader.check_layout(process.vmas);
}

Result<void> check_mapped_files(const image::Process& process, const LogSink& log) {
    for (const image::Vma& vma : process.vmas) {
        if (vma.kind != image::VmaKind::File) continue;
        struct stat st;
        if (stat(vma.path.c_str(), &st) != 0)
            return make_error(errno, "mapping {:#x}-{:#x}: file '{}' cannot be mapped again: {}",
                              vma.start, vma.end, vma.path, strerror(errno));
        if (log && vma.ino != 0 && st.st_ino != vma.ino)
            log(LogLevel::Warn, fmt::format("mapping {:#x}-{:#x}: '{}' is not the file mapped at "
                                            "the dump (inode {}, now {}): its pages may differ",
                                            vma.start, vma.end, vma.path, vma.ino, st.st_ino));
    }
    return {};
}

Result<void> check_special_mappings(const image::Process& process) {
    auto own = CRIB_TRY(read_own_maps());
    CRIB_TRY(match_special_mappings(process, own));
    return {};
}

Result<void> wait_for_free_ids(const image::Process& process, std::chrono::milliseconds limit,
                               const LogSink& log) {
    auto deadline = std::chrono::steady_clock::now() + limit;
    for (const image::Thread& thread : process.threads) {
        bool told = false;
        while (!id_is_free(thread.tid)) {
            if (std::chrono::steady_clock::now() >= deadline)
                return make_error(EBUSY, "pid {} is taken by {} (waited {} ms for it to be freed)",
                                  thread.tid, comm_of(thread.tid), limit.count());
            if (!told && log)
                log(LogLevel::Info, fmt::format("waiting up to {} ms for pid {} ({}) to be freed",
                                                limit.count(), thread.tid, comm_of(thread.tid)));
            told = true;
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
    return {};
}

}  // namespace crib::restore
