#include "progs/helpers.hpp"

#include <linux/bpf.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <string>
#include <vector>

#include "helper_call.hpp"

namespace crib::progs {
namespace {

TEST(HelperTable, IdsMatchTheKernel) {
    struct Want {
        const char* name;
        int id;
    };
    const Want wants[] = {
        {"map_lookup_elem", BPF_FUNC_map_lookup_elem},
        {"map_update_elem", BPF_FUNC_map_update_elem},
        {"map_delete_elem", BPF_FUNC_map_delete_elem},
        {"probe_read", BPF_FUNC_probe_read},
        {"ktime_get_ns", BPF_FUNC_ktime_get_ns},
        {"trace_printk", BPF_FUNC_trace_printk},
        {"get_prandom_u32", BPF_FUNC_get_prandom_u32},
        {"get_smp_processor_id", BPF_FUNC_get_smp_processor_id},
        {"tail_call", BPF_FUNC_tail_call},
        {"get_current_pid_tgid", BPF_FUNC_get_current_pid_tgid},
        {"get_current_uid_gid", BPF_FUNC_get_current_uid_gid},
        {"get_current_comm", BPF_FUNC_get_current_comm},
        {"get_numa_node_id", BPF_FUNC_get_numa_node_id},
        {"probe_read_str", BPF_FUNC_probe_read_str},
        {"probe_read_user", BPF_FUNC_probe_read_user},
        {"probe_read_kernel", BPF_FUNC_probe_read_kernel},
        {"probe_read_user_str", BPF_FUNC_probe_read_user_str},
        {"probe_read_kernel_str", BPF_FUNC_probe_read_kernel_str},
        {"jiffies64", BPF_FUNC_jiffies64},
        {"ktime_get_boot_ns", BPF_FUNC_ktime_get_boot_ns},
        {"ringbuf_output", BPF_FUNC_ringbuf_output},
        {"ringbuf_reserve", BPF_FUNC_ringbuf_reserve},
        {"ringbuf_submit", BPF_FUNC_ringbuf_submit},
        {"ringbuf_discard", BPF_FUNC_ringbuf_discard},
        {"ringbuf_query", BPF_FUNC_ringbuf_query},
        {"ktime_get_coarse_ns", BPF_FUNC_ktime_get_coarse_ns},
        {"for_each_map_elem", BPF_FUNC_for_each_map_elem},
        {"snprintf", BPF_FUNC_snprintf},
        {"loop", BPF_FUNC_loop},
        {"strncmp", BPF_FUNC_strncmp},
    };
    EXPECT_EQ(std::size(wants), helpers().size()) << "a helper row has no kernel check here";
    for (const auto& w : wants) {
        const HelperInfo* h = find_helper(w.id);
        ASSERT_NE(h, nullptr) << w.name;
        EXPECT_EQ(h->name, w.name);
        EXPECT_EQ(find_helper(w.name), h);
        EXPECT_EQ(find_helper(std::string("bpf_") + w.name), h);
    }
    EXPECT_EQ(isa::kHelperTailCall, BPF_FUNC_tail_call);
}

TEST(HelperTable, NamesUniqueAndOnlyTailCallLacksANativeFunction) {
    std::set<std::string_view> names;
    for (const auto& h : helpers()) {
        EXPECT_TRUE(names.insert(h.name).second) << h.name;
        if (h.id == BPF_FUNC_tail_call)
            EXPECT_EQ(h.fn, nullptr);
        else
            EXPECT_NE(h.fn, nullptr) << h.name;
    }
    EXPECT_EQ(find_helper(0), nullptr);
    EXPECT_EQ(find_helper(-1), nullptr);
    EXPECT_EQ(find_helper(BPF_FUNC_skb_store_bytes), nullptr);
}

TEST(HelperTable, PrototypesMirrorTheKernel) {
    const auto& lookup = find_helper(BPF_FUNC_map_lookup_elem)->proto;
    EXPECT_EQ(lookup.ret.kind, RetKind::PtrToMapValue);
    EXPECT_TRUE(lookup.ret.has(kRetMaybeNull));
    EXPECT_EQ(lookup.args[0].kind, ArgKind::ConstMapPtr);
    EXPECT_EQ(lookup.args[1].kind, ArgKind::PtrToMapKey);
    EXPECT_EQ(lookup.args[2].kind, ArgKind::DontCare);

    const auto& reserve = find_helper(BPF_FUNC_ringbuf_reserve)->proto;
    EXPECT_EQ(reserve.ret.kind, RetKind::PtrToMem);
    EXPECT_TRUE(reserve.ret.has(kRetMaybeNull));
    EXPECT_TRUE(reserve.ret.has(kRetRingbuf));
    EXPECT_TRUE(reserve.acquire);
    EXPECT_EQ(reserve.args[1].kind, ArgKind::ConstAllocSizeOrZero);

    for (int id : {BPF_FUNC_ringbuf_submit, BPF_FUNC_ringbuf_discard}) {
        const auto& p = find_helper(id)->proto;
        EXPECT_EQ(p.ret.kind, RetKind::Void);
        EXPECT_EQ(p.args[0].kind, ArgKind::PtrToRingbufMem);
        EXPECT_TRUE(p.args[0].has(kRelease));
    }

    const auto& loop = find_helper(BPF_FUNC_loop)->proto;
    EXPECT_EQ(loop.args[1].kind, ArgKind::PtrToFunc);
    EXPECT_EQ(loop.args[2].kind, ArgKind::PtrToStack);
    EXPECT_TRUE(loop.args[2].has(kMaybeNull));

    const auto& probe = find_helper(BPF_FUNC_probe_read_kernel)->proto;
    EXPECT_TRUE(probe.gpl_only);
    EXPECT_EQ(probe.args[0].kind, ArgKind::PtrToMem);
    EXPECT_TRUE(probe.args[0].has(kUninit));
    EXPECT_EQ(probe.args[1].kind, ArgKind::ConstSizeOrZero);

    const auto& tail = find_helper(BPF_FUNC_tail_call)->proto;
    EXPECT_EQ(tail.ret.kind, RetKind::Void);
    EXPECT_EQ(tail.args[0].kind, ArgKind::PtrToCtx);
    EXPECT_EQ(tail.args[1].kind, ArgKind::ConstMapPtr);

    // A memory argument is always followed by its size.
    for (const auto& h : helpers())
        for (size_t i = 0; i < 5; ++i)
            if (h.proto.args[i].kind == ArgKind::PtrToMem) {
                ASSERT_LT(i + 1, 5u) << h.name;
                auto next = h.proto.args[i + 1].kind;
                EXPECT_TRUE(next == ArgKind::ConstSize || next == ArgKind::ConstSizeOrZero)
                    << h.name << " arg " << i + 1;
            }
}

TEST(TaskHelpers, CurrentThread) {
    uint64_t pid_tgid = call(BPF_FUNC_get_current_pid_tgid);
    EXPECT_EQ(pid_tgid >> 32, static_cast<uint64_t>(getpid()));
    EXPECT_EQ(static_cast<uint32_t>(pid_tgid), static_cast<uint32_t>(gettid()));
    uint64_t uid_gid = call(BPF_FUNC_get_current_uid_gid);
    EXPECT_EQ(uid_gid >> 32, getgid());
    EXPECT_EQ(static_cast<uint32_t>(uid_gid), getuid());

    char want[17] = {};
    prctl(PR_GET_NAME, want, 0, 0, 0);
    char buf[32];
    std::memset(buf, 'x', sizeof buf);
    EXPECT_EQ(call(BPF_FUNC_get_current_comm, u(buf), sizeof buf), 0u);
    EXPECT_STREQ(buf, want);
    for (size_t i = std::strlen(want); i < sizeof buf; ++i) EXPECT_EQ(buf[i], 0) << i;
    char small[4];
    EXPECT_EQ(call(BPF_FUNC_get_current_comm, u(small), sizeof small), 0u);
    EXPECT_EQ(std::string(small), std::string(want, 3));
}

TEST(TaskHelpers, ClocksAndCpu) {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t before = ts.tv_sec * 1'000'000'000ull + ts.tv_nsec;
    uint64_t a = call(BPF_FUNC_ktime_get_ns);
    uint64_t b = call(BPF_FUNC_ktime_get_ns);
    EXPECT_LE(before, a);
    EXPECT_LE(a, b);
    EXPECT_GE(call(BPF_FUNC_ktime_get_boot_ns), before);
    EXPECT_GT(call(BPF_FUNC_ktime_get_coarse_ns), 0u);
    EXPECT_GT(call(BPF_FUNC_jiffies64), 0u);
    EXPECT_LT(call(BPF_FUNC_get_smp_processor_id), 4096u);
    EXPECT_LT(call(BPF_FUNC_get_numa_node_id), 1024u);
}

TEST(TaskHelpers, PrandomVaries) {
    std::set<uint64_t> seen;
    for (int i = 0; i < 64; ++i) {
        uint64_t v = call(BPF_FUNC_get_prandom_u32);
        EXPECT_LE(v, 0xffffffffull);
        seen.insert(v);
    }
    EXPECT_GT(seen.size(), 60u);
}

TEST(MemoryHelpers, ProbeReadCopiesOrZeroesOnFault) {
    const char src[] = "hello";
    char dst[6] = {};
    EXPECT_EQ(call(BPF_FUNC_probe_read_kernel, u(dst), sizeof dst, u(src)), 0u);
    EXPECT_STREQ(dst, "hello");

    // An unmapped page faults: -EFAULT and a zeroed destination.
    long page = sysconf(_SC_PAGESIZE);
    void* mem = mmap(nullptr, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    ASSERT_NE(mem, MAP_FAILED);
    std::memset(dst, 'x', sizeof dst);
    EXPECT_EQ(s(call(BPF_FUNC_probe_read_user, u(dst), sizeof dst, u(mem))), -EFAULT);
    for (char c : dst) EXPECT_EQ(c, 0);
    EXPECT_EQ(s(call(BPF_FUNC_probe_read_kernel, u(dst), sizeof dst, 0)), -EFAULT);
    EXPECT_EQ(call(BPF_FUNC_probe_read_kernel, u(dst), 0, 0), 0u);
    munmap(mem, page);
}

TEST(MemoryHelpers, ProbeReadStr) {
    char dst[16];
    const char* src = "abc";
    EXPECT_EQ(call(BPF_FUNC_probe_read_kernel_str, u(dst), sizeof dst, u(src)), 4u);
    EXPECT_STREQ(dst, "abc");
    EXPECT_EQ(call(BPF_FUNC_probe_read_user_str, u(dst), 3, u(src)), 3u);
    EXPECT_STREQ(dst, "ab");
    EXPECT_EQ(s(call(BPF_FUNC_probe_read_kernel_str, u(dst), sizeof dst, 0)), -EFAULT);

    // A string ending just before an unmapped page still reads.
    long page = sysconf(_SC_PAGESIZE);
    auto* mem = static_cast<char*>(
        mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
    ASSERT_NE(mem, MAP_FAILED);
    ASSERT_EQ(mprotect(mem + page, page, PROT_NONE), 0);
    char* tail = mem + page - 3;
    std::memcpy(tail, "xy", 3);
    EXPECT_EQ(call(BPF_FUNC_probe_read_kernel_str, u(dst), sizeof dst, u(tail)), 3u);
    EXPECT_STREQ(dst, "xy");
    std::memcpy(tail, "xyz", 3);  // no NUL before the fault
    EXPECT_EQ(s(call(BPF_FUNC_probe_read_kernel_str, u(dst), sizeof dst, u(tail))), -EFAULT);
    munmap(mem, 2 * page);
}

TEST(MemoryHelpers, Strncmp) {
    EXPECT_EQ(call(BPF_FUNC_strncmp, u("abc"), 4, u("abc")), 0u);
    EXPECT_EQ(s(call(BPF_FUNC_strncmp, u("abc"), 4, u("abd"))), -1);
    EXPECT_EQ(s(call(BPF_FUNC_strncmp, u("abd"), 4, u("abc"))), 1);
    EXPECT_EQ(call(BPF_FUNC_strncmp, u("abX"), 2, u("abY")), 0u);
    EXPECT_EQ(s(call(BPF_FUNC_strncmp, u("ab"), 3, u("abc"))), -1);
}

// A callback in exec's ABI that counts calls and stops at a given index.
struct Counter {
    isa::Callable callable{&Counter::invoke};
    uint64_t stop_at = UINT64_MAX;
    std::vector<uint64_t> seen;
    uint64_t ctx_seen = 0;
    static uint64_t invoke(const isa::Callable* self, uint64_t i, uint64_t ctx, uint64_t, uint64_t,
                           uint64_t) {
        auto* c = const_cast<Counter*>(reinterpret_cast<const Counter*>(self));
        c->seen.push_back(i);
        c->ctx_seen = ctx;
        return i == c->stop_at ? 1 : 0;
    }
};

TEST(Loop, RunsUntilNrOrOne) {
    Counter c;
    int ctx = 0;
    EXPECT_EQ(call(BPF_FUNC_loop, 5, u(&c.callable), u(&ctx), 0), 5u);
    EXPECT_EQ(c.seen, (std::vector<uint64_t>{0, 1, 2, 3, 4}));
    EXPECT_EQ(c.ctx_seen, u(&ctx));

    Counter stop;
    stop.stop_at = 2;
    EXPECT_EQ(call(BPF_FUNC_loop, 100, u(&stop.callable), 0, 0), 3u);
    EXPECT_EQ(stop.seen.size(), 3u);

    Counter none;
    EXPECT_EQ(call(BPF_FUNC_loop, 0, u(&none.callable), 0, 0), 0u);
    EXPECT_TRUE(none.seen.empty());
}

TEST(Loop, Limits) {
    Counter c;
    EXPECT_EQ(s(call(BPF_FUNC_loop, (1u << 23) + 1, u(&c.callable), 0, 0)), -E2BIG);
    EXPECT_EQ(s(call(BPF_FUNC_loop, 1, u(&c.callable), 0, 1)), -EINVAL);
    EXPECT_TRUE(c.seen.empty());
}

std::string printk(const char* fmt, uint64_t a1 = 0, uint64_t a2 = 0, uint64_t a3 = 0,
                   int64_t* ret = nullptr) {
    std::string line;
    bool called = false;
    set_trace_sink([&](LogLevel, std::string_view text) {
        line = text;
        called = true;
    });
    int64_t r = s(call(BPF_FUNC_trace_printk, u(fmt), std::strlen(fmt) + 1, a1, a2, a3));
    set_trace_sink(nullptr);
    if (ret) *ret = r;
    if (r >= 0) {
        EXPECT_EQ(static_cast<size_t>(r), line.size()) << fmt;
    }
    return called ? line : "<no line>";
}

TEST(Format, TracePrintkDirectives) {
    EXPECT_EQ(printk("plain"), "plain");
    EXPECT_EQ(printk("%d %i %u", static_cast<uint64_t>(-5), 7, 0xffffffffffffffffull),
              "-5 7 4294967295");
    EXPECT_EQ(
        printk("%x %ld %lu", 0x1abcdef01ull, static_cast<uint64_t>(-3), 0xffffffffffffffffull),
        "abcdef01 -3 18446744073709551615");
    EXPECT_EQ(printk("%lx %lld %llu", 0x1abcdef01ull, static_cast<uint64_t>(-9), 42),
              "1abcdef01 -9 42");
    EXPECT_EQ(printk("%llx %c%c", 0xdeadbeefcafeull, 'o', 'k'), "deadbeefcafe ok");
    EXPECT_EQ(printk("%s=%d", u("pid"), 12), "pid=12");
    EXPECT_EQ(printk("100%%"), "100%");
    EXPECT_EQ(printk("%p", 0x1000), "0x1000");
    EXPECT_EQ(printk("%px.", 0xff), "0xff.");
    EXPECT_EQ(printk("[%5d|%-4u|%08x]", 42, 7, 0xbeef), "[   42|7   |0000beef]");
    // A faulting string prints as nothing, as the kernel's does.
    EXPECT_EQ(printk("<%s>", 8), "<>");
}

TEST(Format, TracePrintkRefusals) {
    int64_t ret = 0;
    EXPECT_EQ(printk("%d %d %d %d", 1, 2, 3, &ret), "<no line>");
    EXPECT_EQ(ret, -EINVAL);  // four directives, three arguments
    printk("%q", 1, 0, 0, &ret);
    EXPECT_EQ(ret, -EINVAL);
    printk("%pI4", 1, 0, 0, &ret);
    EXPECT_EQ(ret, -EINVAL);
    printk("%sx", u("a"), 0, 0, &ret);
    EXPECT_EQ(ret, -EINVAL);
    printk("bell\a", 0, 0, 0, &ret);
    EXPECT_EQ(ret, -EINVAL);
    // fmt_size must cover a NUL.
    const char fmt[] = {'a', 'b'};
    EXPECT_EQ(s(call(BPF_FUNC_trace_printk, u(fmt), sizeof fmt)), -EINVAL);
    EXPECT_EQ(s(call(BPF_FUNC_trace_printk, u(fmt), 0)), -EINVAL);
}

TEST(Format, TracePrintkWithoutSinkDiscards) {
    set_trace_sink(nullptr);
    const char fmt[] = "x=%d";
    EXPECT_EQ(call(BPF_FUNC_trace_printk, u(fmt), sizeof fmt, 5), 3u);
}

TEST(Format, Snprintf) {
    char out[32];
    uint64_t data[] = {42, u("str"), static_cast<uint64_t>(-1)};
    const char fmt[] = "%d:%s:%lld";
    EXPECT_EQ(call(BPF_FUNC_snprintf, u(out), sizeof out, u(fmt), u(data), sizeof data), 10u);
    EXPECT_STREQ(out, "42:str:-1");
    // A short buffer gets a terminated prefix; the return value still counts
    // the whole output and its NUL.
    char small[4];
    EXPECT_EQ(call(BPF_FUNC_snprintf, u(small), sizeof small, u(fmt), u(data), sizeof data), 10u);
    EXPECT_STREQ(small, "42:");
    EXPECT_EQ(call(BPF_FUNC_snprintf, 0, 0, u(fmt), u(data), sizeof data), 10u);
    EXPECT_EQ(call(BPF_FUNC_snprintf, u(out), sizeof out, u("none"), 0, 0), 5u);
    EXPECT_STREQ(out, "none");

    EXPECT_EQ(s(call(BPF_FUNC_snprintf, u(out), sizeof out, u(fmt), u(data), 12)), -EINVAL);
    EXPECT_EQ(s(call(BPF_FUNC_snprintf, u(out), sizeof out, u(fmt), 0, 8)), -EINVAL);
    EXPECT_EQ(s(call(BPF_FUNC_snprintf, u(out), sizeof out, u(fmt), u(data), 13 * 8)), -EINVAL);
    EXPECT_EQ(s(call(BPF_FUNC_snprintf, u(out), sizeof out, u(fmt), u(data), 16)), -EINVAL);
}

}  // namespace
}  // namespace crib::progs
