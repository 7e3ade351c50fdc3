// The caller's side of a restore: it traces the restoring child from the
// start, waits until every thread has reached the restorer's final int3,
// then loads the saved registers, masks and FPU state, unmaps the restorer
// hole with one syscall run in the leader, and detaches.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <vector>

#include "base/result.hpp"
#include "crib/image/model.hpp"

namespace crib::restore {

struct Hole {
    uint64_t start = 0, end = 0;
};

class Tracer {
public:
    // PTRACE_SEIZE the new child (new threads are traced as they appear; the
    // child dies if the caller does).
    static Result<Tracer> seize(pid_t pid, std::vector<pid_t> tids);

    // Waits until every thread stops on the restorer's int3. Fails when the
    // child exits (its message comes from `status_fd`), faults, or the
    // restorer reports a failed step.
    Result<Hole> wait_for_restorer(int status_fd, std::chrono::milliseconds limit);

    // Loads the saved thread state, unmaps the hole, detaches.
    Result<void> finish(const image::Process& process, const Hole& hole);

    // Kills the child and reaps every thread: nothing is left behind.
    void kill_and_reap();

private:
    Tracer(pid_t pid, std::vector<pid_t> tids) : m_pid(pid), m_tids(std::move(tids)) {}

    pid_t m_pid;
    std::vector<pid_t> m_tids;  // leader first
};

}  // namespace crib::restore
