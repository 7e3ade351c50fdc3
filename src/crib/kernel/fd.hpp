// An owned descriptor, closed when its owner goes.
#pragma once

#include <unistd.h>

#include <utility>

namespace crib::kernel {

class Fd {
public:
    Fd() = default;
    explicit Fd(int fd) : m_fd(fd) {}
    Fd(Fd&& other) noexcept : m_fd(std::exchange(other.m_fd, -1)) {}
    Fd& operator=(Fd&& other) noexcept {
        if (this != &other) {
            reset();
            m_fd = std::exchange(other.m_fd, -1);
        }
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() { reset(); }

    int get() const { return m_fd; }
    explicit operator bool() const { return m_fd >= 0; }

private:
    void reset() {
        if (m_fd >= 0) close(m_fd);
        m_fd = -1;
    }
    int m_fd = -1;
};

}  // namespace crib::kernel
