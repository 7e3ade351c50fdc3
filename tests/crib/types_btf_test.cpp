// crib's own BTF (the types of crib.h as clang lays them out for BPF)
// against the C++ view of the same header: every size and member offset
// agrees, so a record a program reads and the one crib fills cannot drift,
// and the checkpoint kfuncs are sized from that BTF.
#include "crib/types_btf.hpp"

#include <bpf/btf.h>
#include <gtest/gtest.h>

#include <cstddef>
#include <map>
#include <string>
#include <vector>

#include "crib/crib.h"
#include "crib/dump_programs.hpp"
#include "crib/kfuncs.hpp"
#include "object/object.hpp"
#include "progs/kfuncs.hpp"

namespace crib::dump {
namespace {

struct Field {
    std::string name;
    size_t offset;
    size_t size;
};

struct Layout {
    std::string name;  // struct <name>
    size_t size;
    std::vector<Field> fields;  // every member, as C++ sees it
};

#define CRIB_FIELD(type, member)                              \
    Field {                                                   \
#member, offsetof(type, member), sizeof(type::member) \
    }

// Every struct of crib.h a program sees, member by member. A member added
// to crib.h and not here fails LayoutsMatchCpp (the BTF has one more).
std::vector<Layout> crib_layouts() {
    return {
        {"crib_dump_ctx",
         sizeof(crib_dump_ctx),
         {CRIB_FIELD(crib_dump_ctx, pid), CRIB_FIELD(crib_dump_ctx, flags)}},
        {"crib_sigaction",
         sizeof(crib_sigaction),
         {CRIB_FIELD(crib_sigaction, handler), CRIB_FIELD(crib_sigaction, flags),
          CRIB_FIELD(crib_sigaction, restorer), CRIB_FIELD(crib_sigaction, mask)}},
        {"crib_rlimit",
         sizeof(crib_rlimit),
         {CRIB_FIELD(crib_rlimit, cur), CRIB_FIELD(crib_rlimit, max)}},
        {"crib_itimer",
         sizeof(crib_itimer),
         {CRIB_FIELD(crib_itimer, interval_us), CRIB_FIELD(crib_itimer, value_us)}},
        {"crib_task_info",
         sizeof(crib_task_info),
         {CRIB_FIELD(crib_task_info, kind),          CRIB_FIELD(crib_task_info, pid),
          CRIB_FIELD(crib_task_info, ppid),          CRIB_FIELD(crib_task_info, pgid),
          CRIB_FIELD(crib_task_info, sid),           CRIB_FIELD(crib_task_info, umask),
          CRIB_FIELD(crib_task_info, personality),   CRIB_FIELD(crib_task_info, uids),
          CRIB_FIELD(crib_task_info, gids),          CRIB_FIELD(crib_task_info, ngroups),
          CRIB_FIELD(crib_task_info, groups),        CRIB_FIELD(crib_task_info, cap_inheritable),
          CRIB_FIELD(crib_task_info, cap_permitted), CRIB_FIELD(crib_task_info, cap_effective),
          CRIB_FIELD(crib_task_info, cap_bounding),  CRIB_FIELD(crib_task_info, cap_ambient),
          CRIB_FIELD(crib_task_info, rlimits),       CRIB_FIELD(crib_task_info, sigactions),
          CRIB_FIELD(crib_task_info, itimers),       CRIB_FIELD(crib_task_info, start_code),
          CRIB_FIELD(crib_task_info, end_code),      CRIB_FIELD(crib_task_info, start_data),
          CRIB_FIELD(crib_task_info, end_data),      CRIB_FIELD(crib_task_info, start_brk),
          CRIB_FIELD(crib_task_info, brk),           CRIB_FIELD(crib_task_info, start_stack),
          CRIB_FIELD(crib_task_info, arg_start),     CRIB_FIELD(crib_task_info, arg_end),
          CRIB_FIELD(crib_task_info, env_start),     CRIB_FIELD(crib_task_info, env_end),
          CRIB_FIELD(crib_task_info, auxv_words),    CRIB_FIELD(crib_task_info, auxv),
          CRIB_FIELD(crib_task_info, comm),          CRIB_FIELD(crib_task_info, exe),
          CRIB_FIELD(crib_task_info, cwd),           CRIB_FIELD(crib_task_info, root)}},
        {"crib_thread",
         sizeof(crib_thread),
         {CRIB_FIELD(crib_thread, kind), CRIB_FIELD(crib_thread, tid),
          CRIB_FIELD(crib_thread, regs), CRIB_FIELD(crib_thread, blocked),
          CRIB_FIELD(crib_thread, altstack_sp), CRIB_FIELD(crib_thread, altstack_size),
          CRIB_FIELD(crib_thread, altstack_flags), CRIB_FIELD(crib_thread, rseq_length),
          CRIB_FIELD(crib_thread, rseq_flags), CRIB_FIELD(crib_thread, rseq_signature),
          CRIB_FIELD(crib_thread, rseq_address), CRIB_FIELD(crib_thread, clear_child_tid),
          CRIB_FIELD(crib_thread, xstate_size), CRIB_FIELD(crib_thread, xstate)}},
        {"crib_signal",
         sizeof(crib_signal),
         {CRIB_FIELD(crib_signal, kind), CRIB_FIELD(crib_signal, tid),
          CRIB_FIELD(crib_signal, siginfo)}},
        {"crib_vma",
         sizeof(crib_vma),
         {CRIB_FIELD(crib_vma, kind), CRIB_FIELD(crib_vma, prot), CRIB_FIELD(crib_vma, flags),
          CRIB_FIELD(crib_vma, vma_kind), CRIB_FIELD(crib_vma, start), CRIB_FIELD(crib_vma, end),
          CRIB_FIELD(crib_vma, pgoff), CRIB_FIELD(crib_vma, dev), CRIB_FIELD(crib_vma, ino),
          CRIB_FIELD(crib_vma, path)}},
        {"crib_file",
         sizeof(crib_file),
         {CRIB_FIELD(crib_file, kind), CRIB_FIELD(crib_file, fd), CRIB_FIELD(crib_file, file_kind),
          CRIB_FIELD(crib_file, flags), CRIB_FIELD(crib_file, mode),
          CRIB_FIELD(crib_file, eventfd_flags), CRIB_FIELD(crib_file, pos),
          CRIB_FIELD(crib_file, dev), CRIB_FIELD(crib_file, ino),
          CRIB_FIELD(crib_file, eventfd_count), CRIB_FIELD(crib_file, data_size),
          CRIB_FIELD(crib_file, path)}},
        {"crib_chunk",
         sizeof(crib_chunk),
         {CRIB_FIELD(crib_chunk, kind), CRIB_FIELD(crib_chunk, fd), CRIB_FIELD(crib_chunk, offset),
          CRIB_FIELD(crib_chunk, size), CRIB_FIELD(crib_chunk, data)}},
        {"bpf_iter_crib_thread",
         sizeof(bpf_iter_crib_thread),
         {CRIB_FIELD(bpf_iter_crib_thread, __opaque)}},
        {"bpf_iter_crib_signal",
         sizeof(bpf_iter_crib_signal),
         {CRIB_FIELD(bpf_iter_crib_signal, __opaque)}},
        {"bpf_iter_crib_vma", sizeof(bpf_iter_crib_vma), {CRIB_FIELD(bpf_iter_crib_vma, __opaque)}},
        {"bpf_iter_crib_file",
         sizeof(bpf_iter_crib_file),
         {CRIB_FIELD(bpf_iter_crib_file, __opaque)}},
        {"bpf_iter_crib_chunk",
         sizeof(bpf_iter_crib_chunk),
         {CRIB_FIELD(bpf_iter_crib_chunk, __opaque)}},
    };
}

// Each iterator and the record its _next returns.
const std::map<std::string, std::string> kIterRecords = {
    {"crib_thread", "crib_thread"}, {"crib_signal", "crib_signal"}, {"crib_vma", "crib_vma"},
    {"crib_file", "crib_file"},     {"crib_chunk", "crib_chunk"},
};

std::shared_ptr<const btf::Btf> types_btf() {
    auto types = crib_types_btf();
    EXPECT_TRUE(types.ok()) << types.error().to_string();
    return types.ok() ? *types : nullptr;
}

uint64_t btf_struct_size(const btf::Btf& types, const std::string& name) {
    auto size = struct_size(types, name);
    EXPECT_TRUE(size.ok()) << size.error().to_string();
    return size.ok() ? *size : 0;
}

TEST(CribTypesBtf, LayoutsMatchCpp) {
    auto types = types_btf();
    ASSERT_TRUE(types);
    for (const Layout& layout : crib_layouts()) {
        SCOPED_TRACE("struct " + layout.name);
        auto id = types->find(layout.name, btf::Kind::Struct);
        ASSERT_TRUE(id) << "not in crib's types BTF";
        EXPECT_EQ(*types->size_of(*id), layout.size);
        auto members = types->members(*id);
        EXPECT_EQ(members.size(), layout.fields.size());
        std::map<std::string_view, const btf::Member*> by_name;
        for (const btf::Member& member : members) by_name[member.name] = &member;
        for (const Field& field : layout.fields) {
            SCOPED_TRACE("member " + field.name);
            auto it = by_name.find(field.name);
            ASSERT_NE(it, by_name.end()) << "not in the BTF";
            const btf::Member& member = *it->second;
            EXPECT_EQ(member.bitfield_size, 0u);
            EXPECT_EQ(member.bit_offset, field.offset * 8);
            auto size = types->size_of(member.type);
            ASSERT_TRUE(size.ok()) << size.error().to_string();
            EXPECT_EQ(*size, field.size);
        }
    }
}

TEST(CribTypesBtf, RecordKindsMatchCpp) {
    auto types = types_btf();
    ASSERT_TRUE(types);
    auto id = types->find("crib_record_kind", btf::Kind::Enum);
    ASSERT_TRUE(id);
    EXPECT_EQ(*types->size_of(*id), sizeof(crib_record_kind));
    const std::map<std::string_view, int64_t> expected = {
        {"CRIB_REC_TASK", CRIB_REC_TASK},     {"CRIB_REC_THREAD", CRIB_REC_THREAD},
        {"CRIB_REC_SIGNAL", CRIB_REC_SIGNAL}, {"CRIB_REC_VMA", CRIB_REC_VMA},
        {"CRIB_REC_FILE", CRIB_REC_FILE},     {"CRIB_REC_CHUNK", CRIB_REC_CHUNK},
    };
    std::map<std::string_view, int64_t> seen;
    for (const btf::EnumValue& value : types->enum_values(*id)) seen[value.name] = value.value;
    EXPECT_EQ(seen, expected);
}

// The dump programs crib runs were compiled with the same layouts (a stale
// object built before crib.h changed would differ here).
TEST(CribTypesBtf, DumpProgramsSeeTheSameLayouts) {
    auto types = types_btf();
    ASSERT_TRUE(types);
    auto dump = object::load_object(dump_programs_object(), "dump.bpf.o");
    ASSERT_TRUE(dump.ok()) << dump.error().to_string();
    ASSERT_TRUE(dump->btf);
    size_t shared = 0;
    for (const Layout& layout : crib_layouts()) {
        auto id = dump->btf->find(layout.name, btf::Kind::Struct);
        if (!id) continue;  // a type the dump programs do not use
        ++shared;
        EXPECT_EQ(*dump->btf->size_of(*id), btf_struct_size(*types, layout.name))
            << "struct " << layout.name;
    }
    EXPECT_GE(shared, kIterRecords.size()) << "the dump programs read every record";
}

TEST(CribTypesBtf, KfuncProtosCarryBtfSizes) {
    auto types = types_btf();
    ASSERT_TRUE(types);
    auto registered = register_checkpoint_kfuncs();
    ASSERT_TRUE(registered.ok()) << registered.error().to_string();
    for (const auto& [iter, record] : kIterRecords) {
        SCOPED_TRACE(iter);
        uint64_t iter_size = btf_struct_size(*types, "bpf_iter_" + iter);
        for (const char* step : {"new", "next", "destroy"}) {
            std::string name = "bpf_iter_" + iter + "_" + step;
            const progs::Kfunc* kfunc = progs::find_kfunc(progs::ProgType::Crib, name);
            ASSERT_NE(kfunc, nullptr) << name;
            EXPECT_EQ(kfunc->proto.iter, iter) << name;
            EXPECT_EQ(kfunc->proto.iter_size, iter_size) << name;
        }
        const progs::Kfunc* next =
            progs::find_kfunc(progs::ProgType::Crib, "bpf_iter_" + iter + "_next");
        ASSERT_NE(next, nullptr);
        EXPECT_EQ(next->proto.ret_size, btf_struct_size(*types, record));
    }
}

// A BTF without the records: the set is refused, naming the first missing
// struct, rather than registered with sizes from nowhere.
TEST(CribTypesBtf, SetRefusesMissingType) {
    struct ::btf* handle = btf__new_empty();
    ASSERT_NE(handle, nullptr);
    ASSERT_GT(btf__add_struct(handle, "bpf_iter_crib_thread", 16), 0);
    auto partial = btf::Btf::adopt(handle);
    auto set = checkpoint_kfunc_set(*partial);
    ASSERT_FALSE(set.ok());
    EXPECT_EQ(set.error().code(), ENOENT);
    EXPECT_NE(set.error().message().find("struct crib_thread"), std::string::npos)
        << set.error().message();
}

// A BTF whose sizes are not crib's: the verifier would let programs read
// past the record crib hands out, or the iterator not hold crib's state.
TEST(CribTypesBtf, SetRefusesSizesCribDoesNotHave) {
    struct Case {
        uint32_t iter_size;
        uint32_t record_size;
        std::string named;
    };
    for (const Case& c : {Case{16, sizeof(crib_thread) - 8, "struct crib_thread"},
                          Case{4, sizeof(crib_thread), "struct bpf_iter_crib_thread"}}) {
        SCOPED_TRACE(c.named);
        struct ::btf* handle = btf__new_empty();
        ASSERT_NE(handle, nullptr);
        ASSERT_GT(btf__add_struct(handle, "bpf_iter_crib_thread", c.iter_size), 0);
        ASSERT_GT(btf__add_struct(handle, "crib_thread", c.record_size), 0);
        auto set = checkpoint_kfunc_set(*btf::Btf::adopt(handle));
        ASSERT_FALSE(set.ok());
        EXPECT_EQ(set.error().code(), EINVAL);
        EXPECT_NE(set.error().message().find(c.named), std::string::npos) << set.error().message();
    }
}

}  // namespace
}  // namespace crib::dump
