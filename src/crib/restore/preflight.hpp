// Checks made in the caller before anything is created: everything a restore
// would trip over late (a missing file, a file kind crib cannot rebuild, a
// short pages.img, a vdso of another size, a taken PID) is refused up front,
// naming the fd, file, offset or pid at fault.
#pragma once

#include <chrono>
#include <string>

#include "base/log.hpp"
#include "base/result.hpp"
#include "crib/image/model.hpp"

namespace crib::restore {

Result<void> check_files(const image::Process& process);
// Every run inside its mapping and inside pages.img (PagesReader::
// check_layout): a short pages.img is refused before anything is created.
// Checksums are checked as the child reads the runs into place (one pass
// over the file, not two); a mismatch then fails the restore with nothing
// left behind all the same.
Result<void> check_pages(const image::Process& process, const std::string& dir);
// Every mapped file must be there to be mapped again (a deleted one, memfd
// included, is refused). One replaced since the dump (an upgraded library)
// is said, not refused: file systems such as overlayfs show other inode
// numbers in /proc/PID/maps than stat(2) does.
Result<void> check_mapped_files(const image::Process& process, const LogSink& log);

Result<void> check_special_mappings(const image::Process& process);

// Polls until the saved pid and every saved thread id are free.
Result<void> wait_for_free_ids(const image::Process& process, std::chrono::milliseconds limit,
                               const LogSink& log);

}  // namespace crib::restore
