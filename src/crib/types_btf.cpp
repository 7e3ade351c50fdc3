#include "crib/types_btf.hpp"

#include "base/embed.hpp"
#include "object/object.hpp"

namespace crib::dump {

// CRIB_TYPES_BTF_OBJECT: the object's path in the build tree.
CRIB_EMBED_FILE(types_btf_object, CRIB_TYPES_BTF_OBJECT)

namespace {

constexpr const char* kObjectName = "crib_types_btf.o";

Result<std::shared_ptr<const btf::Btf>> parse_types_btf() {
    // The object loader rather than a bare .BTF parse: it checks the ELF
    // and the .BTF.ext against the BTF as it would for any program object.
    object::Object object = CRIB_TRY(object::load_object(types_btf_object(), kObjectName));
    if (!object.btf) return make_error(ENOENT, "{} carries no .BTF section", kObjectName);
    return object.btf;
}

}  // namespace

Result<std::shared_ptr<const btf::Btf>> crib_types_btf() {
    static const Result<std::shared_ptr<const btf::Btf>> types = parse_types_btf();
    return types;
}

Result<uint32_t> struct_size(const btf::Btf& types, std::string_view name) {
    auto id = types.find(name, btf::Kind::Struct);
    if (!id) return make_error(ENOENT, "crib's types BTF has no struct {}", name);
    // A struct's size is a 32-bit field in BTF.
    return static_cast<uint32_t>(CRIB_TRY(types.size_of(*id)));
}

}  // namespace crib::dump
