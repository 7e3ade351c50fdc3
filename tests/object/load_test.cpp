#include <gtest/gtest.h>

#include <algorithm>

#include "object/loader.hpp"
#include "object/object.hpp"
#include "object_test_util.hpp"

namespace crib::object {
namespace {

using isa::Op;
using testing::load_test_object;

const Program& program(const Object& object, std::string_view name) {
    const Program* found = object.find_program(name);
    EXPECT_NE(found, nullptr) << name;
    static const Program kEmpty;
    return found ? *found : kEmpty;
}

size_t count_ops(const Program& prog, Op op) {
    return std::count_if(prog.insns.begin(), prog.insns.end(),
                         [&](const isa::Insn& insn) { return insn.op == op; });
}

// Where a call_local or lddw_func lands in the linked program.
size_t target_of(const Program& prog, size_t at) {
    return at + 1 + prog.insns[at].imm;
}

const FuncInfo* func_named(const Program& prog, std::string_view name) {
    for (const auto& info : prog.func_info)
        if (info.name == name) return &info;
    return nullptr;
}

TEST(ObjectLoad, BtfDefinedMaps) {
    auto object = load_test_object("object_maps.bpf.o");
    ASSERT_TRUE(object) << object.error().to_string();
    EXPECT_EQ(object->license, "GPL");
    ASSERT_GE(object->maps.size(), 3u);
    // User maps come first, in definition order.
    const MapDef& counts = object->maps[0];
    EXPECT_EQ(counts.name, "counts");
    EXPECT_EQ(counts.kind, MapKind::User);
    EXPECT_EQ(counts.type, 1u);  // BPF_MAP_TYPE_HASH
    EXPECT_EQ(counts.key_size, 4u);
    EXPECT_EQ(counts.value_size, 16u);
    EXPECT_EQ(counts.max_entries, 128u);
    EXPECT_EQ(counts.map_flags, 1u);  // BPF_F_NO_PREALLOC
    EXPECT_EQ(object->btf->describe(counts.btf_key_type), "__u32");
    EXPECT_EQ(object->btf->describe(counts.btf_value_type), "struct value");
    const MapDef& slots = object->maps[1];
    EXPECT_EQ(slots.name, "slots");
    EXPECT_EQ(slots.type, 2u);
    EXPECT_EQ(slots.key_size, 4u);
    EXPECT_EQ(slots.value_size, 8u);
    EXPECT_EQ(slots.max_entries, 4u);
    EXPECT_EQ(slots.btf_key_type, 0u);
    const MapDef& events = object->maps[2];
    EXPECT_EQ(events.name, "events");
    EXPECT_EQ(events.type, 27u);  // BPF_MAP_TYPE_RINGBUF
    EXPECT_EQ(events.max_entries, 4096u);
    EXPECT_EQ(events.key_size, 0u);
}

TEST(ObjectLoad, GlobalDataBecomesArrayMaps) {
    auto object = load_test_object("object_maps.bpf.o");
    ASSERT_TRUE(object) << object.error().to_string();
    const MapDef* data = object->find_map(".data");
    const MapDef* rodata = object->find_map(".rodata");
    const MapDef* bss = object->find_map(".bss");
    ASSERT_TRUE(data && rodata && bss);
    EXPECT_EQ(data->kind, MapKind::Data);
    EXPECT_EQ(data->type, kMapTypeArray);
    EXPECT_EQ(data->max_entries, 1u);
    EXPECT_EQ(data->key_size, 4u);
    EXPECT_EQ(data->value_size, 24u);  // int, padding, long[2]
    ASSERT_EQ(data->initial.size(), 24u);
    EXPECT_EQ(data->initial[0], 0x44);
    EXPECT_EQ(data->initial[3], 0x11);
    EXPECT_EQ(data->initial[8], 5);
    EXPECT_EQ(data->initial[16], 6);
    EXPECT_EQ(data->map_flags, kMapFlagMmapable);
    EXPECT_EQ(rodata->kind, MapKind::Rodata);
    EXPECT_EQ(rodata->map_flags, kMapFlagMmapable | kMapFlagRdonlyProg);
    ASSERT_EQ(rodata->initial.size(), 4u);
    EXPECT_EQ(rodata->initial[0], 42);
    EXPECT_EQ(bss->kind, MapKind::Bss);
    EXPECT_EQ(bss->initial, std::vector<uint8_t>(8, 0));
    EXPECT_EQ(object->btf->kind(data->btf_value_type), btf::Kind::Datasec);
}

TEST(ObjectLoad, MapReferencesBecomePseudoLddw) {
    auto object = load_test_object("object_maps.bpf.o");
    ASSERT_TRUE(object) << object.error().to_string();
    const Program& xdp = program(*object, "count_packets");
    EXPECT_EQ(xdp.section, "xdp");
    size_t data = *object->map_index(".data");
    size_t bss = *object->map_index(".bss");
    bool saw_counts = false, saw_pair = false, saw_bss = false;
    for (size_t i = 0; i < xdp.insns.size(); ++i) {
        const isa::Insn& insn = xdp.insns[i];
        if (insn.op == Op::lddw_map_idx) {
            EXPECT_EQ(insn.imm, 0) << "only 'counts' is used by reference";
            EXPECT_EQ(insn.src, isa::enc::kPseudoMapIdx);
            saw_counts = true;
        }
        if (insn.op == Op::lddw_map_idx_value) {
            EXPECT_EQ(insn.src, isa::enc::kPseudoMapIdxValue);
            ASSERT_EQ(xdp.insns[i + 1].op, Op::lddw_tail);
            // data_pair[1] is read through the base of data_pair (offset 8).
            if (insn.imm == static_cast<int32_t>(data) && xdp.insns[i + 1].imm == 8)
                saw_pair = true;
            if (insn.imm == static_cast<int32_t>(bss) && xdp.insns[i + 1].imm == 0) saw_bss = true;
            EXPECT_EQ(insn.imm64, static_cast<uint64_t>(insn.imm) |
                                      static_cast<uint64_t>(xdp.insns[i + 1].imm) << 32);
        }
    }
    EXPECT_TRUE(saw_counts);
    EXPECT_TRUE(saw_pair);
    EXPECT_TRUE(saw_bss);
    EXPECT_EQ(count_ops(xdp, Op::atomic_add64), 2u);
    EXPECT_EQ(count_ops(xdp, Op::lddw), 0u) << "every lddw here refers to a map";

    const Program& emit = program(*object, "emit");
    EXPECT_EQ(emit.section, "syscall");
    std::vector<int32_t> maps;
    for (const auto& insn : emit.insns)
        if (insn.op == Op::lddw_map_idx) maps.push_back(insn.imm);
    EXPECT_EQ(maps, (std::vector<int32_t>{1, 2}));
}

TEST(ObjectLoad, SubprogramsAreLinkedAfterTheEntry) {
    auto object = load_test_object("object_calls.bpf.o");
    ASSERT_TRUE(object) << object.error().to_string();
    ASSERT_EQ(object->programs.size(), 3u);
    const Program& run = program(*object, "run_crib");
    EXPECT_EQ(run.section, "crib");
    ASSERT_EQ(run.func_info.size(), 4u);
    EXPECT_EQ(run.func_info[0].name, "run_crib");
    EXPECT_EQ(run.func_info[0].insn, 0u);
    EXPECT_EQ(run.func_info[1].insn, run.main_size);

    const FuncInfo* callback = func_named(run, "add_index");
    const FuncInfo* plus_one = func_named(run, "triple_plus_one");
    const FuncInfo* triple = func_named(run, "triple");
    ASSERT_TRUE(callback && plus_one && triple);
    int calls = 0, funcs = 0;
    for (size_t i = 0; i < run.insns.size(); ++i) {
        if (run.insns[i].op == Op::lddw_func) {
            ++funcs;
            EXPECT_EQ(target_of(run, i), callback->insn) << "bpf_loop callback address";
            EXPECT_EQ(run.insns[i].imm64, static_cast<uint32_t>(run.insns[i].imm));
        }
        if (run.insns[i].op == Op::call_local) {
            ++calls;
            size_t target = target_of(run, i);
            EXPECT_TRUE(target == plus_one->insn || target == triple->insn) << "call at " << i;
            // A call in triple_plus_one goes to triple, one in the entry to triple_plus_one.
            EXPECT_EQ(target, i < run.main_size ? plus_one->insn : triple->insn);
        }
    }
    EXPECT_EQ(funcs, 1);
    EXPECT_EQ(calls, 2);
    EXPECT_EQ(count_ops(run, Op::exit), 4u) << "entry and three subprograms";

    // A second program gets its own copy of only the subprograms it reaches.
    const Program& walk = program(*object, "walk_tasks");
    EXPECT_EQ(walk.section, "iter/task");
    ASSERT_EQ(walk.func_info.size(), 2u);
    EXPECT_EQ(walk.func_info[1].name, "triple");
    EXPECT_EQ(count_ops(walk, Op::atomic_add32), 1u);
    const Program& plain = program(*object, "plain");
    EXPECT_EQ(plain.insns.size(), 2u);
    EXPECT_EQ(plain.main_size, 2u);
}

TEST(ObjectLoad, LineInfoFollowsLinkedInstructions) {
    auto object = load_test_object("object_calls.bpf.o");
    ASSERT_TRUE(object) << object.error().to_string();
    const Program& run = program(*object, "run_crib");
    ASSERT_FALSE(run.line_info.empty());
    const FuncInfo* triple = func_named(run, "triple");
    ASSERT_NE(triple, nullptr);
    const LineInfo* line = run.line_for(triple->insn);
    ASSERT_NE(line, nullptr);
    EXPECT_NE(line->source.find("x * 3 + seen"), std::string::npos) << line->source;
    EXPECT_NE(line->file.find("object_calls.bpf.c"), std::string::npos);
    EXPECT_GT(line->line, 0u);
    for (size_t i = 0; i < run.insns.size(); ++i)
        if (run.insns[i].op == Op::call_local && i < run.main_size) {
            const LineInfo* call = run.line_for(i);
            ASSERT_NE(call, nullptr);
            EXPECT_NE(call->source.find("triple_plus_one(2)"), std::string::npos) << call->source;
        }
}

TEST(ObjectLoad, ExternsAreLeftForTheRuntime) {
    auto object = load_test_object("object_core.bpf.o");
    ASSERT_TRUE(object) << object.error().to_string();
    const Program& prog = program(*object, "call_kfunc");
    ASSERT_EQ(prog.externs.size(), 2u);
    EXPECT_EQ(prog.externs[0].name, "crib_test_kfunc");
    EXPECT_EQ(prog.externs[0].kind, ExternKind::Kfunc);
    EXPECT_EQ(prog.insns[prog.externs[0].insn].op, Op::call_kfunc);
    EXPECT_EQ(object->btf->kind(prog.externs[0].btf_type), btf::Kind::Func);
    EXPECT_EQ(prog.externs[1].name, "crib_test_ksym");
    EXPECT_EQ(prog.externs[1].kind, ExternKind::Ksym);
    EXPECT_EQ(prog.insns[prog.externs[1].insn].op, Op::lddw_btf_id);
}

TEST(ObjectLoad, InstructionsReencode) {
    for (const char* name : {"object_maps.bpf.o", "object_calls.bpf.o", "object_core.bpf.o"}) {
        auto object = load_test_object(name);
        ASSERT_TRUE(object) << object.error().to_string();
        for (const auto& prog : object->programs) {
            auto back = isa::decode(isa::encode(prog.insns));
            ASSERT_TRUE(back) << prog.name << ": " << back.error().to_string();
            ASSERT_EQ(back->size(), prog.insns.size());
            for (size_t i = 0; i < back->size(); ++i)
                EXPECT_EQ((*back)[i].op, prog.insns[i].op) << prog.name << " " << i;
        }
    }
}

TEST(ObjectLoad, PhasesRefuseToRunOutOfOrder) {
    auto bytes = testing::read_bytes(testing::bpf_path("object_calls.bpf.o"));
    Loader loader("calls.o");
    auto early = loader.relocate();
    ASSERT_FALSE(early);
    EXPECT_EQ(early.error().to_string(), "relocate: loader is created, expected collected");
    ASSERT_TRUE(loader.open(bytes));
    EXPECT_FALSE(loader.open(bytes));
    ASSERT_TRUE(loader.load_btf());
    ASSERT_TRUE(loader.collect());
    EXPECT_EQ(loader.phase(), Phase::Collected);
    ASSERT_TRUE(loader.relocate());
    auto object = loader.finish();
    ASSERT_TRUE(object);
    EXPECT_EQ(object->name, "calls.o");
    EXPECT_FALSE(loader.finish());
    EXPECT_EQ(loader.phase(), Phase::Failed);
}

TEST(ObjectLoad, FailedPhaseStopsTheLoader) {
    Loader loader("junk.o");
    std::vector<uint8_t> junk(100, 0);
    auto opened = loader.open(junk);
    ASSERT_FALSE(opened);
    EXPECT_EQ(loader.phase(), Phase::Failed);
    EXPECT_FALSE(loader.load_btf());
}

TEST(ObjectLoad, MissingFile) {
    auto object = load_object_file("/nonexistent/x.bpf.o");
    ASSERT_FALSE(object);
    EXPECT_EQ(object.error().code(), ENOENT);
}

}  // namespace
}  // namespace crib::object
