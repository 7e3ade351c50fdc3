#include "crib/dump_programs.hpp"

#include "object/object.hpp"

// The object file, placed in .rodata at compile time (CRIB_DUMP_BPF_OBJECT
// is its path in the build tree; CMake recompiles this file when it changes).
asm(".pushsection .rodata\n"
    ".balign 8\n"
    "crib_dump_bpf_begin:\n"
    ".incbin \"" CRIB_DUMP_BPF_OBJECT
    "\"\n"
    "crib_dump_bpf_end:\n"
    ".popsection\n");
extern "C" const uint8_t crib_dump_bpf_begin[];
extern "C" const uint8_t crib_dump_bpf_end[];

namespace crib::dump {

std::span<const uint8_t> dump_programs_object() {
    return {crib_dump_bpf_begin, static_cast<size_t>(crib_dump_bpf_end - crib_dump_bpf_begin)};
}

Result<std::unique_ptr<runtime::LoadedObject>> load_dump_programs(
    const runtime::LoadOptions& options) {
    auto object = CRIB_TRY(object::load_object(dump_programs_object(), "dump.bpf.o"));
    return runtime::load(object, options);
}

}  // namespace crib::dump
