// The records CRIB programs send (bpf/include/crib/crib.h) and the image
// model: the kfuncs fill records from the collected model, and the dump
// turns the records the programs sent back into the model it saves. Both
// directions live here, side by side, so a field cannot be added to one only.
#pragma once

#include <cstdint>
#include <span>

#include "base/result.hpp"
#include "crib/image/model.hpp"

extern "C" {
#include "crib/crib.h"
}

namespace crib::dump {

// Model -> record. E2BIG when a value does not fit the record's fixed
// fields (a path over CRIB_PATH_MAX, an xstate over CRIB_XSTATE_MAX...).
Result<void> fill_task(const image::Task& task, crib_task_info& out);
Result<void> fill_thread(const image::Thread& thread, crib_thread& out);
void fill_signal(int32_t tid, const image::PendingSignal& signal, crib_signal& out);
Result<void> fill_vma(const image::Vma& vma, crib_vma& out);
Result<void> fill_file(const image::FileDesc& file, crib_file& out);

// Builds a process from records as they arrive, in any order within a kind
// except pipe chunks, which follow their file's record in offset order.
class ProcessBuilder {
public:
    // EINVAL naming the record kind when a record is short, of an unknown
    // kind, or inconsistent (a chunk for an fd with no file record...).
    Result<void> add(std::span<const uint8_t> record);
    // The process, threads leader first, vmas by address, files by fd;
    // EINVAL when the task record is missing or pipe bytes are missing.
    Result<image::Process> finish();

private:
    Result<void> add_chunk(const crib_chunk& chunk);

    image::Process m_process;
    bool m_have_task = false;
    std::vector<uint64_t> m_expected_data;  // per file: bytes announced
};

}  // namespace crib::dump
