// Fault-safe reads. The kernel's probe_read helpers copy with page faults
// disabled; in user space, process_vm_readv on our own pid reads the same
// memory but reports EFAULT for an unmapped address instead of crashing.
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "progs/helper_impls.hpp"

namespace crib::progs::impl {
namespace {

// Bytes readable from src (up to size), stopping at the first fault.
size_t read_some(void* dst, const void* src, size_t size) {
    iovec local{dst, size};
    iovec remote{const_cast<void*>(src), size};
    ssize_t n = process_vm_readv(getpid(), &local, 1, &remote, 1, 0);
    return n < 0 ? 0 : static_cast<size_t>(n);
}

}  // namespace

bool safe_copy(void* dst, const void* src, size_t size) {
    if (!size) return true;
    return read_some(dst, src, size) == size;
}

long safe_copy_str(char* dst, const char* src, size_t size) {
    if (!size) return 0;
    // Read page by page so a string that ends before an unmapped page still
    // reads.
    const long page = sysconf(_SC_PAGESIZE);
    size_t done = 0;
    while (done < size) {
        uintptr_t at = reinterpret_cast<uintptr_t>(src) + done;
        size_t chunk = page - (at % page);
        if (chunk > size - done) chunk = size - done;
        size_t got = read_some(dst + done, src + done, chunk);
        if (const void* nul = std::memchr(dst + done, 0, got))
            return static_cast<long>(static_cast<const char*>(nul) - dst) + 1;
        done += got;
        if (got < chunk) return -EFAULT;
    }
    // Truncated: strncpy_from_kernel_nofault terminates at size - 1.
    dst[size - 1] = 0;
    return static_cast<long>(size);
}

// bpf_probe_read_{kernel,user}: on a fault the destination is zeroed and
// the result is -EFAULT.
u64 probe_read(u64 dst, u64 size, u64 unsafe_ptr, u64, u64) {
    void* out = reinterpret_cast<void*>(dst);
    if (safe_copy(out, reinterpret_cast<const void*>(unsafe_ptr), size)) return 0;
    std::memset(out, 0, size);
    return neg(EFAULT);
}

// bpf_probe_read_{kernel,user}_str: length with the NUL, or -EFAULT with the
// destination zeroed.
u64 probe_read_str(u64 dst, u64 size, u64 unsafe_ptr, u64, u64) {
    char* out = reinterpret_cast<char*>(dst);
    long ret = safe_copy_str(out, reinterpret_cast<const char*>(unsafe_ptr), size);
    if (ret < 0) std::memset(out, 0, size);
    return static_cast<u64>(ret);
}

// bpf_strncmp(s1, s1_sz, s2): the kernel's strncmp, which answers -1, 0 or 1.
u64 strncmp(u64 s1, u64 s1_size, u64 s2, u64, u64) {
    const auto* a = reinterpret_cast<const unsigned char*>(s1);
    const auto* b = reinterpret_cast<const unsigned char*>(s2);
    for (u64 i = 0; i < s1_size; ++i) {
        if (a[i] != b[i]) return a[i] < b[i] ? neg(1) : 1;
        if (!a[i]) break;
    }
    return 0;
}

}  // namespace crib::progs::impl
