// Pages holding JIT code. They are writable only while the code is copied
// in, then read+execute for the rest of their life (W^X): nothing can
// rewrite code that may run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "base/result.hpp"

namespace crib::exec::jit {

class ExecMemory {
public:
    ExecMemory() = default;
    // Maps pages read+write, copies `code`, and turns them read+execute.
    static Result<ExecMemory> create(std::span<const uint8_t> code);

    ExecMemory(ExecMemory&& other) noexcept;
    ExecMemory& operator=(ExecMemory&& other) noexcept;
    ExecMemory(const ExecMemory&) = delete;
    ExecMemory& operator=(const ExecMemory&) = delete;
    ~ExecMemory();

    const uint8_t* data() const { return m_data; }
    size_t size() const { return m_size; }  // bytes of code (the mapping is page-rounded)

private:
    ExecMemory(uint8_t* data, size_t size, size_t mapped)
        : m_data(data), m_size(size), m_mapped(mapped) {}
    void release();

    uint8_t* m_data = nullptr;
    size_t m_size = 0;
    size_t m_mapped = 0;
};

}  // namespace crib::exec::jit
