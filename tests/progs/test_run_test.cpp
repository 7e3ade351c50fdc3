#include <gtest/gtest.h>

#include <cstring>
#include <thread>
#include <vector>

#include "progs/prog_types.hpp"

namespace crib::progs {
namespace {

const ProgTypeInfo& crib() {
    return *prog_type(ProgType::Crib);
}
const ProgTypeInfo& syscall() {
    return *prog_type(ProgType::Syscall);
}
const ProgTypeInfo& xdp() {
    return *prog_type(ProgType::Xdp);
}

// A stand-in for a loaded program: records what it saw.
struct Prog {
    const void* ctx = nullptr;
    std::vector<uint8_t> ctx_copy;
    int runs = 0;
    uint64_t ret = 0;
    size_t copy_bytes = 0;
    RunFn fn() {
        return [this](const void* c) {
            ctx = c;
            if (c && copy_bytes)
                ctx_copy.assign(static_cast<const uint8_t*>(c),
                                static_cast<const uint8_t*>(c) + copy_bytes);
            ++runs;
            return ret;
        };
    }
};

void expect_einval(const Result<TestRunResult>& r, const std::string& text) {
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), EINVAL);
    EXPECT_NE(r.error().message().find(text), std::string::npos) << r.error().message();
}

TEST(CribTestRun, EveryNonzeroAttributeIsEinval) {
    uint8_t buf[16] = {};
    std::vector<std::pair<const char*, TestRunAttr>> cases;
    TestRunAttr a;
    a.data_in = std::span<const uint8_t>(buf, 4);
    cases.push_back({"crib: data_in must be 0", a});
    a = {};
    a.data_out = std::span<uint8_t>(buf, 4);
    cases.push_back({"crib: data_out must be 0", a});
    a = {};
    a.ctx_out = std::span<uint8_t>(buf, 4);
    cases.push_back({"crib: ctx_out must be 0", a});
    a = {};
    a.duration = 1;
    cases.push_back({"crib: duration must be 0", a});
    a = {};
    a.repeat = 1;
    cases.push_back({"crib: repeat must be 0", a});
    a = {};
    a.flags = 1;
    cases.push_back({"crib: flags must be 0", a});
    a = {};
    a.batch_size = 1;
    cases.push_back({"crib: batch_size must be 0", a});
    for (auto& [text, attr] : cases) {
        Prog prog;
        expect_einval(test_run(crib(), attr, prog.fn(), 0), text);
        EXPECT_EQ(prog.runs, 0) << text;
        // The syscall type has the same rules.
        expect_einval(test_run(syscall(), attr, prog.fn(), 0), std::string("syscall") + (text + 4));
    }
    // A zero-length data_out buffer with a pointer still counts as given.
    a = {};
    a.data_out = std::span<uint8_t>(buf, size_t{0});
    Prog prog;
    expect_einval(test_run(crib(), a, prog.fn(), 0), "data_out");
}

TEST(CribTestRun, CtxSizeBounds) {
    std::vector<uint8_t> ctx(65536, 0);
    Prog prog;
    TestRunAttr a;
    a.ctx_in = std::span<const uint8_t>(ctx.data(), 15);
    expect_einval(test_run(crib(), a, prog.fn(), 16), "ctx_size_in 15");
    a.ctx_in = std::span<const uint8_t>(ctx.data(), 65536);
    expect_einval(test_run(crib(), a, prog.fn(), 0), "65535");
    EXPECT_EQ(prog.runs, 0);

    a.ctx_in = std::span<const uint8_t>(ctx.data(), 16);
    EXPECT_TRUE(test_run(crib(), a, prog.fn(), 16).ok());
    a.ctx_in = std::span<const uint8_t>(ctx.data(), 65535);
    EXPECT_TRUE(test_run(crib(), a, prog.fn(), 16).ok());
    EXPECT_EQ(prog.runs, 2);
}

TEST(CribTestRun, NoContextRunsWithNull) {
    Prog prog;
    prog.ret = 3;
    auto r = test_run(crib(), {}, prog.fn(), 0);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(prog.runs, 1);
    EXPECT_EQ(prog.ctx, nullptr);
    EXPECT_EQ(r->retval, 3u);
    EXPECT_EQ(r->duration_ns, 0u);
}

TEST(CribTestRun, ContextIsACopyAndRetvalIsTruncatedToU32) {
    uint8_t ctx[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    Prog prog;
    prog.copy_bytes = sizeof ctx;
    prog.ret = 0x1234567887654321ull;
    TestRunAttr a;
    a.ctx_in = ctx;
    auto r = test_run(crib(), a, prog.fn(), 8);
    ASSERT_TRUE(r.ok());
    EXPECT_NE(prog.ctx, ctx);
    EXPECT_EQ(prog.ctx_copy, std::vector<uint8_t>(ctx, ctx + 8));
    EXPECT_EQ(r->retval, 0x87654321u);
    EXPECT_TRUE(r->ctx_in_after.empty());
}

TEST(SyscallTestRun, ContextComesBack) {
    uint8_t ctx[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    TestRunAttr a;
    a.ctx_in = ctx;
    auto r = test_run(
        syscall(), a,
        [](const void* c) {
            auto* bytes = static_cast<uint8_t*>(const_cast<void*>(c));
            bytes[0] = 42;
            return uint64_t{7};
        },
        4);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->retval, 7u);
    EXPECT_EQ(r->ctx_in_after, (std::vector<uint8_t>{42, 2, 3, 4, 5, 6, 7, 8}));
    EXPECT_EQ(ctx[0], 1);  // the caller's buffer is not the program's
}

std::vector<uint8_t> packet(size_t n) {
    std::vector<uint8_t> p(n);
    for (size_t i = 0; i < n; ++i) p[i] = static_cast<uint8_t>(i);
    return p;
}

TEST(XdpTestRun, PacketInAndOut) {
    auto pkt = packet(64);
    std::vector<uint8_t> out(128, 0xee);
    TestRunAttr a;
    a.data_in = pkt;
    a.data_out = out;
    int runs = 0;
    auto r = test_run(
        xdp(), a,
        [&](const void* c) {
            ++runs;
            const auto* ctx = static_cast<const XdpMd*>(c);
            auto* data = reinterpret_cast<uint8_t*>(static_cast<uintptr_t>(ctx->data));
            EXPECT_EQ(ctx->data_end - ctx->data, 64u);
            EXPECT_EQ(ctx->data_meta, ctx->data);
            // Headroom in front, as XDP_PACKET_HEADROOM gives.
            data[0] ^= 0xff;
            return uint64_t{2};  // XDP_PASS
        },
        0);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(runs, 1);
    EXPECT_EQ(r->retval, 2u);
    EXPECT_EQ(r->data_size_out, 64u);
    EXPECT_EQ(out[0], 0xff);
    EXPECT_EQ(out[63], 63);
    EXPECT_EQ(out[64], 0xee);
    EXPECT_EQ(r->ctx_size_out, 0u);
}

TEST(XdpTestRun, RepeatAndMeanDuration) {
    auto pkt = packet(14);
    TestRunAttr a;
    a.data_in = pkt;
    a.repeat = 5;
    int runs = 0;
    auto r = test_run(
        xdp(), a,
        [&](const void*) {
            ++runs;
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
            return uint64_t{1};
        },
        0);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(runs, 5);
    EXPECT_GE(r->duration_ns, 2'000'000u);
    EXPECT_LT(r->duration_ns, 200'000'000u);  // a mean, not the total of five
}

TEST(XdpTestRun, MetadataFromCtx) {
    auto pkt = packet(40);
    XdpMd md{};
    md.data = 8;
    md.data_end = 40;
    XdpMd md_out{};
    TestRunAttr a;
    a.data_in = pkt;
    a.ctx_in = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&md), sizeof md);
    a.ctx_out = std::span<uint8_t>(reinterpret_cast<uint8_t*>(&md_out), sizeof md_out);
    auto r = test_run(
        xdp(), a,
        [&](const void* c) {
            const auto* ctx = static_cast<const XdpMd*>(c);
            EXPECT_EQ(ctx->data - ctx->data_meta, 8u);
            EXPECT_EQ(*reinterpret_cast<const uint8_t*>(static_cast<uintptr_t>(ctx->data)), 8);
            EXPECT_EQ(ctx->data_end - ctx->data_meta, 40u);
            return uint64_t{2};
        },
        0);
    ASSERT_TRUE(r.ok()) << r.error().to_string();
    EXPECT_EQ(r->ctx_size_out, sizeof(XdpMd));
    EXPECT_EQ(md_out.data, 8u);
    EXPECT_EQ(md_out.data_end, 40u);
    EXPECT_EQ(md_out.data_meta, 0u);
}

TEST(XdpTestRun, Refusals) {
    auto pkt = packet(64);
    Prog prog;
    auto run = [&](TestRunAttr a) { return test_run(xdp(), a, prog.fn(), 0); };
    auto code = [&](TestRunAttr a) { return run(a).error().code(); };
    TestRunAttr a;
    a.data_in = std::span<const uint8_t>(pkt.data(), 13);
    expect_einval(run(a), "data_size_in 13");
    a = {};
    expect_einval(run(a), "data_size_in 0");
    std::vector<uint8_t> big(kXdpMaxData + 1);
    a.data_in = big;
    expect_einval(run(a), "larger");
    a = {};
    a.data_in = pkt;
    a.flags = 1;
    expect_einval(run(a), "flags");
    a.flags = 2;
    EXPECT_EQ(code(a), EOPNOTSUPP);
    a.flags = 0;
    a.batch_size = 4;
    expect_einval(run(a), "batch_size");
    a.batch_size = 0;

    auto with_md = [&](XdpMd md) {
        TestRunAttr b;
        b.data_in = pkt;
        static XdpMd keep;
        keep = md;
        b.ctx_in = std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(&keep), sizeof keep);
        return b;
    };
    expect_einval(run(with_md({0, 63, 0, 0, 0, 0})), "data_end 63");
    expect_einval(run(with_md({0, 64, 4, 0, 0, 0})), "data_meta");
    expect_einval(run(with_md({6, 64, 0, 0, 0, 0})), "metadata length 6");
    expect_einval(run(with_md({36, 64, 0, 0, 0, 0})), "metadata length 36");
    expect_einval(run(with_md({0, 64, 0, 0, 0, 3})), "egress_ifindex");
    expect_einval(run(with_md({0, 64, 0, 0, 1, 0})), "rx_queue_index");
    EXPECT_EQ(code(with_md({0, 64, 0, 2, 0, 0})), ENODEV);

    // Only ctx_out given: the context starts zeroed, so data_end is 0.
    XdpMd out{};
    a = {};
    a.data_in = pkt;
    a.ctx_out = std::span<uint8_t>(reinterpret_cast<uint8_t*>(&out), sizeof out);
    expect_einval(run(a), "data_end 0");

    // Bytes past struct xdp_md must be zero.
    std::vector<uint8_t> long_ctx(sizeof(XdpMd) + 4, 0);
    XdpMd md{0, 64, 0, 0, 0, 0};
    std::memcpy(long_ctx.data(), &md, sizeof md);
    a = {};
    a.data_in = pkt;
    a.ctx_in = long_ctx;
    EXPECT_TRUE(run(a).ok());
    long_ctx.back() = 1;
    EXPECT_EQ(code(a), E2BIG);
    EXPECT_EQ(prog.runs, 1);
}

TEST(XdpTestRun, ShortDataOutIsEnospcWithAPrefix) {
    auto pkt = packet(64);
    std::vector<uint8_t> out(16, 0xee);
    TestRunAttr a;
    a.data_in = pkt;
    a.data_out = out;
    Prog prog;
    auto r = test_run(xdp(), a, prog.fn(), 0);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.error().code(), ENOSPC);
    EXPECT_EQ(out[15], 15);
}

}  // namespace
}  // namespace crib::progs
