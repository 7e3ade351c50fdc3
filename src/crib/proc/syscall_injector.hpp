// Running a syscall inside a frozen thread, for the state only the process
// itself can ask the kernel for (sigactions, sigaltstack, itimers, brk, the
// clear-child-tid address).
//
// The thread is sent to a `syscall` instruction (0f 05) found in the
// process's [vdso] with the call's registers, run from syscall entry to exit
// under PTRACE_SYSCALL with every signal blocked, and its result read. Data
// passes through a scratch buffer on the thread's own stack, below the
// 128-byte red zone. restore() then puts each thread used back exactly as
// frozen: registers, signal mask, the stack bytes used, and the interrupt
// stop itself, so an interrupted syscall still restarts on thaw.
#pragma once

#include <sys/types.h>
#include <sys/user.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "base/result.hpp"

namespace crib::proc {

class Freezer;

class SyscallInjector {
public:
    // An argument that is replaced by the address of the scratch buffer.
    static constexpr uint64_t kScratch = 0xc0de5c2a7c400000;
    static constexpr size_t kScratchSize = 256;

    static Result<std::unique_ptr<SyscallInjector>> create(const Freezer& freezer);
    SyscallInjector(const SyscallInjector&) = delete;
    SyscallInjector& operator=(const SyscallInjector&) = delete;
    ~SyscallInjector();  // restore() if it has not run

    // Runs syscall `nr` in thread `tid` (one of the freezer's). `scratch`
    // (at most kScratchSize bytes) is written to the scratch buffer before
    // the call and read back from it after. Returns what the kernel returned
    // (-errno on failure); an Error only when the injection itself failed.
    Result<int64_t> call(pid_t tid, long nr, std::array<uint64_t, 6> args,
                         std::span<uint8_t> scratch = {});

    // Puts every thread a call ran in back as it was frozen.
    Result<void> restore();

private:
    // What a thread had before its first call.
    struct Saved {
        pid_t tid = 0;
        user_regs_struct regs{};
        uint64_t blocked = 0;
        uint64_t scratch_at = 0;
        std::vector<uint8_t> scratch_bytes;
        bool moved = false;  // taken off its interrupt stop by a call
    };

    SyscallInjector(pid_t pid, int mem_fd, uint64_t syscall_at)
        : m_pid(pid), m_mem_fd(mem_fd), m_syscall_at(syscall_at) {}
    Result<Saved*> prepare(pid_t tid);
    Result<void> run_to_syscall_stop(pid_t tid, const char* which);
    Result<void> restore_thread(Saved& saved);
    Result<void> read_memory(uint64_t address, std::span<uint8_t> out);
    Result<void> write_memory(uint64_t address, std::span<const uint8_t> bytes);

    pid_t m_pid;
    int m_mem_fd;
    uint64_t m_syscall_at;
    std::vector<Saved> m_saved;
    bool m_restored = false;
};

}  // namespace crib::proc
