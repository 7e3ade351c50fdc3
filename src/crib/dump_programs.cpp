#include "crib/dump_programs.hpp"

#include "base/embed.hpp"
#include "object/object.hpp"

namespace crib::dump {

// CRIB_DUMP_BPF_OBJECT: the object's path in the build tree.
CRIB_EMBED_FILE(dump_programs_object, CRIB_DUMP_BPF_OBJECT)

Result<std::unique_ptr<runtime::LoadedObject>> load_dump_programs(
    const runtime::LoadOptions& options) {
    auto object = CRIB_TRY(object::load_object(dump_programs_object(), "dump.bpf.o"));
    return runtime::load(object, options);
}

}  // namespace crib::dump
