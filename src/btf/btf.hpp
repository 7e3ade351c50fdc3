// A small C++ view over libbpf's struct btf: ownership, lookups by name and
// kind, member layout, sizes and printable type names. The object loader
// uses it for maps and CO-RE; the verifier uses it for typed accesses.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.hpp"

struct btf;
struct btf_type;

namespace crib::btf {

using TypeId = uint32_t;

// The kernel's BTF_KIND_* numbering, so values convert both ways.
enum class Kind : uint8_t {
    Void = 0,
    Int,
    Ptr,
    Array,
    Struct,
    Union,
    Enum,
    Fwd,
    Typedef,
    Volatile,
    Const,
    Restrict,
    Func,
    FuncProto,
    Var,
    Datasec,
    Float,
    DeclTag,
    TypeTag,
    Enum64,
};

std::string_view kind_name(Kind kind);

struct Member {
    std::string_view name;  // empty for anonymous members
    TypeId type;
    uint32_t bit_offset;
    uint32_t bitfield_size;  // 0 unless a bitfield
};

struct EnumValue {
    std::string_view name;
    int64_t value;
};

struct IntInfo {
    uint32_t bits;
    uint32_t offset;  // bit offset of the value inside the storage
    bool is_signed;
    bool is_char;
    bool is_bool;
};

struct ArrayInfo {
    TypeId element;
    TypeId index;
    uint32_t count;
};

struct VarSecInfo {
    TypeId type;  // the VAR (or FUNC for externs) in the section
    uint32_t offset;
    uint32_t size;
};

// Always owned by a shared_ptr (the factories below are the only way to
// make one), so a holder of a reference may extend its life with
// shared_from_this(): kfunc prototypes keep the BTF their types live in.
class Btf : public std::enable_shared_from_this<Btf> {
public:
    // Parse raw .BTF bytes; the bytes are copied.
    static Result<std::shared_ptr<Btf>> parse(std::span<const uint8_t> raw);
    // The running kernel's BTF (/sys/kernel/btf/vmlinux and fallbacks).
    static Result<std::shared_ptr<Btf>> load_vmlinux();
    // A raw BTF file or an ELF file's .BTF section.
    static Result<std::shared_ptr<Btf>> load_file(const std::string& path);
    // Take ownership of a libbpf btf, e.g. one built with btf__add_*().
    static std::shared_ptr<Btf> adopt(struct ::btf* handle);

    Btf(const Btf&) = delete;
    Btf& operator=(const Btf&) = delete;
    ~Btf();

    // Ids run from 0 (void) to type_count() - 1.
    uint32_t type_count() const;
    bool valid(TypeId id) const { return id < type_count(); }
    // nullptr for void or an id out of range.
    const btf_type* type(TypeId id) const;
    Kind kind(TypeId id) const;
    std::string_view name(TypeId id) const;
    // A string from the string section; empty if the offset is bad.
    std::string_view string_at(uint32_t offset) const;

    // Follow typedef, const, volatile, restrict and type tags.
    TypeId skip_modifiers(TypeId id) const;
    // Follow only const, volatile, restrict and type tags (keep typedefs).
    TypeId skip_qualifiers(TypeId id) const;
    // The type a ptr, typedef, modifier, var or func refers to.
    TypeId target(TypeId id) const;
    Result<uint64_t> size_of(TypeId id) const;

    std::vector<Member> members(TypeId id) const;         // struct/union
    std::vector<EnumValue> enum_values(TypeId id) const;  // enum/enum64
    bool enum_is_signed(TypeId id) const;
    std::optional<IntInfo> int_info(TypeId id) const;
    std::optional<ArrayInfo> array_info(TypeId id) const;
    std::vector<VarSecInfo> datasec_vars(TypeId id) const;
    // Linkage of a VAR or FUNC (BTF_VAR_* / BTF_FUNC_*).
    uint32_t linkage(TypeId id) const;

    std::optional<TypeId> find(std::string_view name, Kind kind) const;
    // Every id whose kind matches and whose name, minus any "___flavor"
    // suffix, equals `essential` (CO-RE candidate lookup).
    std::vector<TypeId> find_by_essential_name(std::string_view essential, Kind kind) const;

    // Human-readable type, for messages: "struct task_struct", "u32 *".
    std::string describe(TypeId id) const;

    struct ::btf* handle() const {
        return m_btf;
    }

private:
    explicit Btf(struct ::btf* handle) : m_btf(handle) {}
    struct ::btf* m_btf;
};

// "task_struct___v2" -> "task_struct": CO-RE's flavor convention.
std::string_view essential_name(std::string_view name);

}  // namespace crib::btf
