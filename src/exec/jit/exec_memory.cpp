#include "exec/jit/exec_memory.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace crib::exec::jit {

Result<ExecMemory> ExecMemory::create(std::span<const uint8_t> code) {
    const auto page = static_cast<size_t>(sysconf(_SC_PAGESIZE));
    const size_t mapped = (code.size() + page - 1) / page * page;
    if (mapped == 0) return make_error(EINVAL, "jit: no code to map");
    void* pages = mmap(nullptr, mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (pages == MAP_FAILED)
        return make_error(errno, "jit: mmap of {} bytes: {}", mapped, std::strerror(errno));
    std::memcpy(pages, code.data(), code.size());
    if (mprotect(pages, mapped, PROT_READ | PROT_EXEC) != 0) {
        const int error = errno;
        munmap(pages, mapped);
        return make_error(error, "jit: mprotect to read+execute: {}", std::strerror(error));
    }
    return ExecMemory(static_cast<uint8_t*>(pages), code.size(), mapped);
}

ExecMemory::ExecMemory(ExecMemory&& other) noexcept
    : m_data(std::exchange(other.m_data, nullptr)),
      m_size(std::exchange(other.m_size, 0)),
      m_mapped(std::exchange(other.m_mapped, 0)) {}

ExecMemory& ExecMemory::operator=(ExecMemory&& other) noexcept {
    if (this != &other) {
        release();
        m_data = std::exchange(other.m_data, nullptr);
        m_size = std::exchange(other.m_size, 0);
        m_mapped = std::exchange(other.m_mapped, 0);
    }
    return *this;
}

ExecMemory::~ExecMemory() {
    release();
}

void ExecMemory::release() {
    if (m_data) munmap(m_data, m_mapped);
    m_data = nullptr;
}

}  // namespace crib::exec::jit
