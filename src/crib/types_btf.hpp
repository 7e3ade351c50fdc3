// crib's own BTF: the types crib hands to `crib` programs (the records and
// iterators of bpf/include/crib/crib.h) as clang lays them out for BPF. The
// build compiles types_btf.bpf.c into an object embedded in the library;
// the kfunc prototypes take their sizes from it, so the BPF view of a record
// and the size crib gives the verifier cannot differ.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "base/result.hpp"
#include "btf/btf.hpp"

namespace crib::dump {

// The embedded object (ELF, -target bpf) whose .BTF holds the types.
std::span<const uint8_t> types_btf_object();

// The types' BTF, parsed on first use; later calls share it (or its error).
Result<std::shared_ptr<const btf::Btf>> crib_types_btf();

// The byte size of `struct <name>` in `types`; ENOENT naming the struct when
// `types` has none.
Result<uint32_t> struct_size(const btf::Btf& types, std::string_view name);

}  // namespace crib::dump
