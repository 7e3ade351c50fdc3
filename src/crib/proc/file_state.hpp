// What an open file holds beyond its path and position, read from outside
// the process without changing it: the bytes in flight in a pipe and an
// eventfd's counter. Shared by the procfs and kernel collectors.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "base/result.hpp"

namespace crib::proc {

// The bytes waiting in the pipe (or FIFO) open as `fd` in process `pid`,
// left where they are: the pipe is opened again through /proc/PID/fd/N and
// tee(2)'d into a private pipe, which copies without consuming.
Result<std::vector<uint8_t>> read_pipe_data(pid_t pid, int fd);

struct EventfdState {
    uint64_t count = 0;
    uint32_t flags = 0;  // EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC
};

// From /proc/PID/fdinfo/FD: "eventfd-count", "eventfd-semaphore" and the
// file's O_NONBLOCK / O_CLOEXEC (the same bits as EFD_NONBLOCK / EFD_CLOEXEC).
Result<EventfdState> read_eventfd(pid_t pid, int fd);

}  // namespace crib::proc
