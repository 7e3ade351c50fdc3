#include <bpf/btf.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include "object/object.hpp"
#include "object_test_util.hpp"

namespace crib::object {
namespace {

using isa::Op;

// A target BTF where every local type moved: crib_point gains a leading
// field, task_struct swaps pid and tgid, and crib_missing (without the
// ___v2 flavor) exists with its field at offset 8.
std::shared_ptr<const btf::Btf> moved_target() {
    struct ::btf* b = btf__new_empty();
    int int_id = btf__add_int(b, "int", 4, BTF_INT_SIGNED);
    int long_id = btf__add_int(b, "long", 8, BTF_INT_SIGNED);
    btf__add_struct(b, "crib_point", 24);
    btf__add_field(b, "pad", int_id, 0, 0);
    btf__add_field(b, "x", int_id, 32, 0);
    btf__add_field(b, "y", int_id, 64, 0);
    btf__add_field(b, "z", long_id, 128, 0);
    btf__add_struct(b, "task_struct", 8);
    btf__add_field(b, "tgid", int_id, 0, 0);
    btf__add_field(b, "pid", int_id, 32, 0);
    btf__add_struct(b, "crib_missing", 16);
    btf__add_field(b, "other", long_id, 0, 0);
    btf__add_field(b, "nothing_here", int_id, 64, 0);
    return btf::Btf::adopt(b);
}

const CoreRelo* relo_at(const Program& prog, size_t insn) {
    for (const auto& relo : prog.core_relos)
        if (relo.insn == insn) return &relo;
    return nullptr;
}

TEST(Core, AgainstOwnBtfKeepsCompiledValues) {
    auto object = testing::load_test_object("object_core.bpf.o");
    ASSERT_TRUE(object) << object.error().to_string();
    const Program* prog = object->find_program("read_point");
    ASSERT_NE(prog, nullptr);
    ASSERT_EQ(prog->core_relos.size(), 4u);
    for (const auto& relo : prog->core_relos) {
        EXPECT_EQ(relo.type_name, "struct crib_point");
        EXPECT_EQ(relo.local_value, relo.target_value);
        EXPECT_FALSE(relo.poisoned);
    }
}

TEST(Core, AgainstMovedTypes) {
    LoadOptions options;
    options.core_target = moved_target();
    auto object = load_object_file(testing::bpf_path("object_core.bpf.o"), options);
    ASSERT_TRUE(object) << object.error().to_string();

    const Program* point = object->find_program("read_point");
    ASSERT_NE(point, nullptr);
    // p->y: a 4-byte load that moved from offset 4 to 8.
    const CoreRelo* y = relo_at(*point, 0);
    ASSERT_NE(y, nullptr);
    EXPECT_EQ(y->access, "0:1");
    EXPECT_EQ(y->local_value, 4u);
    EXPECT_EQ(y->target_value, 8u);
    EXPECT_EQ(point->insns[0].op, Op::ldxw);
    EXPECT_EQ(point->insns[0].off, 8);
    // p->z moved from 8 to 16; the type grew from 16 to 24 bytes.
    bool saw_z = false, saw_size = false;
    for (const auto& relo : point->core_relos) {
        const isa::Insn& insn = point->insns[relo.insn];
        if (relo.kind == 0 && relo.access == "0:2") {
            saw_z = true;
            EXPECT_EQ(insn.off, 16);
        }
        if (relo.kind == 9) {
            saw_size = true;
            EXPECT_EQ(insn.imm, 24);
        }
        if (relo.kind == 2) {
            EXPECT_EQ(insn.imm, 1);
        }
    }
    EXPECT_TRUE(saw_z);
    EXPECT_TRUE(saw_size);

    const Program* task = object->find_program("read_task");
    ASSERT_NE(task, nullptr);
    EXPECT_EQ(task->insns[0].off, 0) << "tgid moved to the front";

    // "crib_missing___v2" matches "crib_missing": the flavor is ignored.
    const Program* missing = object->find_program("maybe_missing");
    ASSERT_NE(missing, nullptr);
    for (const auto& relo : missing->core_relos) {
        EXPECT_FALSE(relo.poisoned);
        if (relo.kind == 0) {
            EXPECT_EQ(missing->insns[relo.insn].off, 8);
        }
        if (relo.kind == 2) {
            EXPECT_EQ(missing->insns[relo.insn].imm, 1);
        }
    }
}

TEST(Core, MissingTypesPoisonOrReportAbsence) {
    // An empty target: every existence check answers 0 and every access is
    // poisoned so only reaching it fails.
    LoadOptions options;
    options.core_target = btf::Btf::adopt(btf__new_empty());
    auto object = load_object_file(testing::bpf_path("object_core.bpf.o"), options);
    ASSERT_TRUE(object) << object.error().to_string();
    const Program* missing = object->find_program("maybe_missing");
    ASSERT_NE(missing, nullptr);
    int poisoned = 0;
    for (const auto& relo : missing->core_relos) {
        if (relo.kind == 2) {
            EXPECT_FALSE(relo.poisoned);
            EXPECT_EQ(missing->insns[relo.insn].imm, 0);
        } else {
            EXPECT_TRUE(relo.poisoned);
            EXPECT_EQ(missing->insns[relo.insn].op, Op::call);
            EXPECT_EQ(missing->insns[relo.insn].imm, kPoisonHelper);
            ++poisoned;
        }
    }
    EXPECT_EQ(poisoned, 1);
}

TEST(Core, AgainstHostVmlinux) {
    if (access("/sys/kernel/btf/vmlinux", R_OK) != 0) GTEST_SKIP() << "no vmlinux BTF on this host";
    auto object = load_object_file(testing::bpf_path("object_core.bpf.o"));
    ASSERT_TRUE(object) << object.error().to_string();
    auto vmlinux = btf::Btf::load_vmlinux();
    ASSERT_TRUE(vmlinux);
    auto task = (*vmlinux)->find("task_struct", btf::Kind::Struct);
    ASSERT_TRUE(task);
    std::optional<uint32_t> tgid;
    for (const auto& m : (*vmlinux)->members(*task))
        if (m.name == "tgid") tgid = m.bit_offset / 8;
    ASSERT_TRUE(tgid);
    const Program* prog = object->find_program("read_task");
    ASSERT_NE(prog, nullptr);
    ASSERT_EQ(prog->core_relos.size(), 1u);
    EXPECT_EQ(prog->core_relos[0].target_value, *tgid);
    EXPECT_EQ(prog->insns[0].off, static_cast<int16_t>(*tgid));
}

}  // namespace
}  // namespace crib::object
