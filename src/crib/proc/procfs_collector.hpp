// The procfs collector: everything of image::Process but the page contents
// and the ptrace-only thread state (ptrace_state.hpp), read from /proc and,
// for what only the process can ask the kernel, from syscalls injected into
// its frozen threads (syscall_injector.hpp). The fallback when the kernel
// collector's BPF is unavailable; both must give the same image.
//
// Encodings both collectors share:
// - dev numbers (Vma::dev, FileDesc::dev) are glibc's makedev(major, minor),
//   which is also what stat(2) returns in st_dev (the kernel's
//   new_encode_dev).
// - Vma::flags: MAP_SHARED when the mapping may share (VM_MAYSHARE, an 's' in
//   maps), else MAP_PRIVATE; MAP_ANONYMOUS for every kind but File;
//   MAP_GROWSDOWN from VmFlags "gd". A shared anonymous mapping ("/dev/zero
//   (deleted)") is kind Anon. Vma::path is the file's path for File, the
//   bracketed name for the special kinds and for named anonymous memory
//   ("[anon:name]"), empty for plain anonymous memory; dev, ino and pgoff are
//   0 for every kind but File.
// - FileDesc::data: the pipe's bytes in flight on every fd of that pipe.
// - Thread::clear_child_tid and altstack per thread; Task::sigactions of
//   SIGKILL and SIGSTOP stay default (they cannot be changed).
#pragma once

#include <sys/types.h>

#include <string_view>

#include "base/result.hpp"
#include "crib/image/model.hpp"
#include "crib/proc/file_state.hpp"
#include "crib/proc/syscall_injector.hpp"

namespace crib::proc {

class Freezer;

// Fills task (ids, comm, exe, cwd, root, umask, personality, creds,
// rlimits, sigactions, itimers, mm layout with auxv), per thread altstack
// and clear_child_tid, vmas (without pages) and files. Threads it touches
// are put back as frozen before it returns.
Result<void> collect_procfs(const Freezer& freezer, image::Process& out);

// An fd's kind as both collectors name it, from its link text ("pipe:[..]",
// "anon_inode:[..]", a path) and its inode's mode; `is_eventfd` is what the
// collector learnt of eventfds its own way.
image::FileKind file_kind(std::string_view path, mode_t mode, bool is_eventfd);

}  // namespace crib::proc
