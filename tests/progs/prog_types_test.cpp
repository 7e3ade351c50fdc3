#include "progs/prog_types.hpp"

#include <linux/bpf.h>

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "progs/kfuncs.hpp"

namespace crib::progs {
namespace {

// A section name a pattern accepts: "name+" and "name/" take an extra part.
std::string sample_section(std::string_view pattern) {
    std::string s(pattern);
    if (s.back() == '+') {
        s.pop_back();
        return s + "/sample";
    }
    if (s.back() == '/') return s + "sample";
    return s;
}

TEST(ProgTypes, OneRowPerTypeInKernelOrder) {
    auto rows = prog_types();
    ASSERT_EQ(rows.size(), kProgTypeCount);
    for (size_t i = 0; i < rows.size(); ++i) EXPECT_EQ(static_cast<size_t>(rows[i].type), i);
}

TEST(ProgTypes, NumbersMatchTheKernel) {
    EXPECT_EQ(static_cast<uint32_t>(ProgType::SocketFilter), BPF_PROG_TYPE_SOCKET_FILTER);
    EXPECT_EQ(static_cast<uint32_t>(ProgType::Xdp), BPF_PROG_TYPE_XDP);
    EXPECT_EQ(static_cast<uint32_t>(ProgType::SchedCls), BPF_PROG_TYPE_SCHED_CLS);
    EXPECT_EQ(static_cast<uint32_t>(ProgType::Tracing), BPF_PROG_TYPE_TRACING);
    EXPECT_EQ(static_cast<uint32_t>(ProgType::StructOps), BPF_PROG_TYPE_STRUCT_OPS);
    EXPECT_EQ(static_cast<uint32_t>(ProgType::SkLookup), BPF_PROG_TYPE_SK_LOOKUP);
    EXPECT_EQ(static_cast<uint32_t>(ProgType::Syscall), BPF_PROG_TYPE_SYSCALL);
    // Netfilter follows syscall (newer than these headers); crib follows it.
    EXPECT_EQ(static_cast<uint32_t>(ProgType::Netfilter), BPF_PROG_TYPE_SYSCALL + 1);
    EXPECT_EQ(static_cast<uint32_t>(ProgType::Crib), BPF_PROG_TYPE_SYSCALL + 2);
}

TEST(ProgTypes, NamesAreUniqueAndFindTheirRow) {
    std::set<std::string_view> names;
    for (const auto& row : prog_types()) {
        EXPECT_TRUE(names.insert(row.name).second) << row.name;
        EXPECT_EQ(prog_type_by_name(row.name), &row);
        EXPECT_EQ(prog_type(row.type), &row);
    }
    EXPECT_EQ(prog_type_by_name("nope"), nullptr);
    EXPECT_EQ(prog_type(static_cast<ProgType>(999)), nullptr);
}

TEST(ProgTypes, EverySectionPatternMapsToItsOwnRowAndNoOther) {
    size_t patterns = 0;
    for (const auto& row : prog_types()) {
        for (const auto& def : row.sections) {
            ++patterns;
            std::string sec = sample_section(def.pattern);
            EXPECT_EQ(prog_type_for_section(sec), &row) << sec;
            EXPECT_EQ(section_def_for(sec), &def) << sec;
            size_t matches = 0;
            for (const auto& other : prog_types())
                for (const auto& d : other.sections) matches += section_matches(d, sec);
            EXPECT_EQ(matches, 1u) << sec << " matches more than one pattern";
        }
    }
    EXPECT_GT(patterns, 60u);
}

TEST(ProgTypes, SectionsResolveLikeLibbpf) {
    struct Case {
        const char* sec;
        const char* type;  // null: unknown
    };
    const Case cases[] = {
        {"crib", "crib"},
        {"syscall", "syscall"},
        {"xdp", "xdp"},
        {"xdp.frags", "xdp"},
        {"xdp/devmap", "xdp"},
        {"socket", "socket_filter"},
        {"tc", "sched_cls"},
        {"classifier", "sched_cls"},
        {"iter/task", "tracing"},
        {"iter.s/task_vma", "tracing"},
        {"iter", "tracing"},
        {"fentry/do_exit", "tracing"},
        {"struct_ops/init", "struct_ops"},
        {"struct_ops.s/init", "struct_ops"},
        {"struct_ops", "struct_ops"},
        {"tp/sched/sched_switch", "tracepoint"},
        {"tracepoint/syscalls/sys_enter_open", "tracepoint"},
        {"kprobe/do_unlinkat", "kprobe"},
        {"uprobe.s/libc:malloc", "kprobe"},
        {"raw_tp/sys_enter", "raw_tracepoint"},
        {"lsm/file_open", "lsm"},
        {"cgroup/connect4", "cgroup_sock_addr"},
        {"cgroup_skb/ingress", "cgroup_skb"},
        {"sk_lookup", "sk_lookup"},
        {"netfilter", "netfilter"},
        // Exact-only names take no suffix; "+" names need a '/' separator.
        {"crib/extra", nullptr},
        {"cribx", nullptr},
        {"xdpfoo", nullptr},
        {"iterx/task", nullptr},
        {"kprobex", nullptr},
        {"", nullptr},
        {".text", nullptr},
    };
    for (const auto& c : cases) {
        const ProgTypeInfo* row = prog_type_for_section(c.sec);
        if (!c.type) {
            EXPECT_EQ(row, nullptr) << c.sec;
            continue;
        }
        ASSERT_NE(row, nullptr) << c.sec;
        EXPECT_EQ(row->name, c.type) << c.sec;
    }
    EXPECT_TRUE(section_def_for("iter.s/task")->sleepable);
    EXPECT_FALSE(section_def_for("iter/task")->sleepable);
    EXPECT_EQ(section_def_for("xdp")->expected_attach_type, uint32_t{BPF_XDP});
    EXPECT_EQ(section_def_for("iter/task")->expected_attach_type, uint32_t{BPF_TRACE_ITER});
    EXPECT_EQ(section_def_for("crib")->expected_attach_type, 0u);
}

TEST(ProgTypes, RunnableTypesAndTestRun) {
    std::set<std::string_view> runnable;
    for (const auto& row : prog_types()) {
        if (row.runnable) runnable.insert(row.name);
        // A type BPF_PROG_RUN can run must be one crib can execute.
        if (row.test_run) {
            EXPECT_TRUE(row.runnable) << row.name;
        }
        EXPECT_NE(row.get_func_proto, nullptr) << row.name;
        EXPECT_NE(row.ctx.is_valid_access, nullptr) << row.name;
    }
    EXPECT_EQ(runnable,
              (std::set<std::string_view>{"xdp", "tracing", "struct_ops", "syscall", "crib"}));
    auto r = test_run(
        *prog_type(ProgType::Kprobe), {}, [](const void*) { return 0ull; }, 0);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), EOPNOTSUPP);
    EXPECT_NE(r.error().message().find("kprobe"), std::string::npos);
}

TEST(CtxAccess, CribIsReadOnlyAlignedAndBelowU16Max) {
    const auto& crib = *prog_type(ProgType::Crib);
    EXPECT_TRUE(crib.ctx.read_only);
    auto ok = [&](int32_t off, int32_t size, AccessType t = AccessType::Read) {
        return crib.ctx.is_valid_access(off, size, t);
    };
    EXPECT_TRUE(ok(0, 8));
    EXPECT_TRUE(ok(8, 4));
    EXPECT_TRUE(ok(3, 1));
    EXPECT_TRUE(ok(65534, 1));
    EXPECT_TRUE(ok(65528, 8));
    EXPECT_FALSE(ok(0, 8, AccessType::Write));
    EXPECT_FALSE(ok(-8, 8));
    EXPECT_FALSE(ok(65535, 1));  // off >= U16_MAX
    EXPECT_FALSE(ok(4, 8));      // misaligned
    EXPECT_FALSE(ok(2, 4));
    EXPECT_FALSE(ok(0, 3));  // not an access size
    EXPECT_FALSE(ok(0, 0));
}

TEST(CtxAccess, MaxCtxOffsetIsRecordedOnAllowedAccessOnly) {
    const auto& crib = *prog_type(ProgType::Crib);
    uint32_t max = 0;
    EXPECT_TRUE(check_ctx_access(crib, 8, 8, AccessType::Read, max));
    EXPECT_EQ(max, 16u);
    EXPECT_TRUE(check_ctx_access(crib, 0, 4, AccessType::Read, max));
    EXPECT_EQ(max, 16u);
    EXPECT_FALSE(check_ctx_access(crib, 64, 8, AccessType::Write, max));
    EXPECT_EQ(max, 16u);
    EXPECT_TRUE(check_ctx_access(crib, 100, 4, AccessType::Read, max));
    EXPECT_EQ(max, 104u);
}

TEST(CtxAccess, SyscallMayWrite) {
    const auto& sys = *prog_type(ProgType::Syscall);
    EXPECT_FALSE(sys.ctx.read_only);
    EXPECT_TRUE(sys.ctx.is_valid_access(16, 8, AccessType::Write));
    EXPECT_FALSE(sys.ctx.is_valid_access(65535, 1, AccessType::Read));
    EXPECT_FALSE(sys.ctx.is_valid_access(6, 4, AccessType::Write));
}

TEST(CtxAccess, XdpReadsWholeU32FieldsOfXdpMd) {
    const auto& xdp = *prog_type(ProgType::Xdp);
    EXPECT_EQ(xdp.ctx.size, sizeof(XdpMd));
    auto ok = [&](size_t off, int32_t size, AccessType t = AccessType::Read) {
        return xdp.ctx.is_valid_access(static_cast<int32_t>(off), size, t);
    };
    EXPECT_TRUE(ok(offsetof(XdpMd, data), 4));
    EXPECT_TRUE(ok(offsetof(XdpMd, data_end), 4));
    EXPECT_TRUE(ok(offsetof(XdpMd, data_meta), 4));
    EXPECT_TRUE(ok(offsetof(XdpMd, ingress_ifindex), 4));
    EXPECT_TRUE(ok(offsetof(XdpMd, egress_ifindex), 4));
    EXPECT_FALSE(ok(offsetof(XdpMd, data), 8));
    EXPECT_FALSE(ok(offsetof(XdpMd, data), 2));
    EXPECT_FALSE(ok(offsetof(XdpMd, data), 4, AccessType::Write));
    EXPECT_FALSE(ok(2, 4));
    EXPECT_FALSE(ok(sizeof(XdpMd), 4));
}

TEST(CtxAccess, TypesWithoutAContextRefuseEverything) {
    const auto& sk = *prog_type(ProgType::SocketFilter);
    EXPECT_FALSE(sk.ctx.is_valid_access(0, 4, AccessType::Read));
    const auto& tracing = *prog_type(ProgType::Tracing);
    EXPECT_TRUE(tracing.ctx.is_valid_access(0, 8, AccessType::Read));
    EXPECT_TRUE(tracing.ctx.is_valid_access(88, 8, AccessType::Read));
    EXPECT_FALSE(tracing.ctx.is_valid_access(96, 8, AccessType::Read));
    EXPECT_FALSE(tracing.ctx.is_valid_access(0, 8, AccessType::Write));
}

TEST(HelperSets, CribGetsTheBaseSetOnly) {
    const auto& crib = *prog_type(ProgType::Crib);
    const auto& sys = *prog_type(ProgType::Syscall);
    EXPECT_NE(crib.get_func_proto(BPF_FUNC_map_lookup_elem), nullptr);
    EXPECT_NE(crib.get_func_proto(BPF_FUNC_ringbuf_reserve), nullptr);
    EXPECT_NE(crib.get_func_proto(BPF_FUNC_loop), nullptr);
    // bpf_base_func_proto has no current-task helpers; tracing types do.
    EXPECT_EQ(crib.get_func_proto(BPF_FUNC_get_current_pid_tgid), nullptr);
    EXPECT_NE(sys.get_func_proto(BPF_FUNC_get_current_pid_tgid), nullptr);
    EXPECT_EQ(crib.get_func_proto(BPF_FUNC_probe_read), nullptr);
    EXPECT_EQ(crib.get_func_proto(9999), nullptr);
    EXPECT_EQ(prog_type(ProgType::Unspec)->get_func_proto(BPF_FUNC_map_lookup_elem), nullptr);
}

uint64_t seven(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t) {
    return 7;
}

TEST(Kfuncs, CribHasItsOwnSetRegisteredUpFront) {
    auto names = kfunc_set_names(ProgType::Crib);
    ASSERT_FALSE(names.empty());
    EXPECT_EQ(names.front(), kCribKfuncSetName);
}

TEST(Kfuncs, RegisterFindAndRefuseDuplicates) {
    ASSERT_TRUE(register_kfunc_set(ProgType::Crib,
                                   KfuncSet{"test_crib_set", {{"test_kfunc_a", seven, kKfRetNull}}})
                    .ok());
    const Kfunc* a = find_kfunc(ProgType::Crib, "test_kfunc_a");
    ASSERT_NE(a, nullptr);
    EXPECT_EQ(a->fn(0, 0, 0, 0, 0), 7u);
    EXPECT_EQ(a->flags, uint32_t{kKfRetNull});
    // Registered for crib only.
    EXPECT_EQ(find_kfunc(ProgType::Syscall, "test_kfunc_a"), nullptr);

    auto dup = register_kfunc_set(ProgType::Crib, KfuncSet{"other", {{"test_kfunc_a", seven}}});
    ASSERT_FALSE(dup.ok());
    EXPECT_EQ(dup.error().code(), EEXIST);
    // The same name for another type is a different hook.
    EXPECT_TRUE(
        register_kfunc_set(ProgType::Syscall, KfuncSet{"sys", {{"test_kfunc_a", seven}}}).ok());

    // Unspec reaches every type, and so clashes with every type's names.
    ASSERT_TRUE(
        register_kfunc_set(ProgType::Unspec, KfuncSet{"common", {{"test_kfunc_common", seven}}})
            .ok());
    EXPECT_NE(find_kfunc(ProgType::Crib, "test_kfunc_common"), nullptr);
    EXPECT_NE(find_kfunc(ProgType::Xdp, "test_kfunc_common"), nullptr);
    EXPECT_FALSE(
        register_kfunc_set(ProgType::Unspec, KfuncSet{"common2", {{"test_kfunc_a", seven}}}).ok());

    auto names = kfunc_set_names(ProgType::Crib);
    EXPECT_NE(std::find(names.begin(), names.end(), "test_crib_set"), names.end());
    EXPECT_NE(std::find(names.begin(), names.end(), "common"), names.end());

    EXPECT_EQ(register_kfunc_set(ProgType::Crib, KfuncSet{"", {}}).error().code(), EINVAL);
    EXPECT_EQ(register_kfunc_set(ProgType::Crib, KfuncSet{"x", {{"", seven}}}).error().code(),
              EINVAL);
}

}  // namespace
}  // namespace crib::progs
