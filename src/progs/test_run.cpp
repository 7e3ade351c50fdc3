// BPF_PROG_RUN per program type (net/bpf/test_run.c and the CRIB seed).
// Errors name the attribute at fault, prefixed by the type's name.
#include <chrono>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

#include <sys/mman.h>

#include "progs/test_run_impl.hpp"

namespace crib::progs::detail {
namespace {

constexpr uint32_t kU16Max = 0xffff;
constexpr uint32_t kTestXdpLiveFrames = 1u << 1;  // BPF_F_TEST_XDP_LIVE_FRAMES

// Packet memory whose addresses fit struct xdp_md's 32-bit fields.
class LowBuffer {
public:
    static Result<LowBuffer> map(const ProgTypeInfo& type, size_t size) {
        void* base = mmap(nullptr, size, PROT_READ | PROT_WRITE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
        if (base == MAP_FAILED)
            return make_error(ENOMEM, "{}: cannot map a {}-byte packet buffer below 4 GiB",
                              type.name, size);
        return LowBuffer(static_cast<uint8_t*>(base), size);
    }
    LowBuffer(LowBuffer&& other) noexcept
        : m_base(std::exchange(other.m_base, nullptr)), m_size(other.m_size) {}
    LowBuffer& operator=(LowBuffer&&) = delete;
    ~LowBuffer() {
        if (m_base) munmap(m_base, m_size);
    }
    uint8_t* data() const { return m_base; }

private:
    LowBuffer(uint8_t* base, size_t size) : m_base(base), m_size(size) {}
    uint8_t* m_base;
    size_t m_size;
};

uint32_t low_address(const void* pointer) {
    return static_cast<uint32_t>(reinterpret_cast<uintptr_t>(pointer));
}

template <typename Span>
bool given(const Span& span) {
    return span.data() != nullptr || !span.empty();
}

// The attributes a context-only run (crib, syscall) refuses, in the order
// the kernel tests them.
Result<void> check_ctx_only(const ProgTypeInfo& type, const TestRunAttr& attr) {
    struct Rule {
        const char* name;
        bool set;
    };
    const Rule rules[] = {
        {"data_in", given(attr.data_in)},     {"data_out", given(attr.data_out)},
        {"ctx_out", given(attr.ctx_out)},     {"duration", attr.duration != 0},
        {"repeat", attr.repeat != 0},         {"flags", attr.flags != 0},
        {"batch_size", attr.batch_size != 0},
    };
    for (const auto& rule : rules)
        if (rule.set) return make_error(EINVAL, "{}: {} must be 0", type.name, rule.name);
    return {};
}

Result<void> check_ctx_size(const ProgTypeInfo& type, const TestRunAttr& attr,
                            uint32_t max_ctx_offset) {
    const size_t size = attr.ctx_in.size();
    if (size < max_ctx_offset)
        return make_error(EINVAL,
                          "{}: ctx_size_in {} is smaller than the program's largest context "
                          "offset {}",
                          type.name, size, max_ctx_offset);
    if (size > kU16Max)
        return make_error(EINVAL, "{}: ctx_size_in {} is larger than {}", type.name, size, kU16Max);
    return {};
}

// The context a run sees is a private copy (memdup_user), so a program
// cannot reach the caller's buffer.
std::vector<uint8_t> copy_ctx(const TestRunAttr& attr) {
    return std::vector<uint8_t>(attr.ctx_in.begin(), attr.ctx_in.end());
}

// Copies `size` bytes to an output buffer as bpf_test_finish/bpf_ctx_finish
// do: a short buffer gets what fits, and the run fails with ENOSPC.
Result<void> copy_out(const ProgTypeInfo& type, const char* what, std::span<uint8_t> out,
                      const uint8_t* from, size_t size) {
    if (!given(out)) return {};
    const size_t n = std::min(out.size(), size);
    if (n) std::memcpy(out.data(), from, n);
    if (n < size)
        return make_error(ENOSPC, "{}: {} holds {} bytes, {} needed", type.name, what, out.size(),
                          size);
    return {};
}

// bpf_test_timer: the mean time of one run, saturating at U32_MAX.
uint32_t mean_ns(std::chrono::nanoseconds total, uint32_t runs) {
    const uint64_t mean = static_cast<uint64_t>(total.count()) / runs;
    return mean > std::numeric_limits<uint32_t>::max() ? std::numeric_limits<uint32_t>::max()
                                                       : static_cast<uint32_t>(mean);
}

// The shape crib and syscall share: only ctx_in may be given, the context is
// a private copy, and the return value is cut to 32 bits.
Result<TestRunResult> run_on_ctx_copy(const ProgTypeInfo& type, const TestRunAttr& attr,
                                      const RunFn& run, uint32_t max_ctx_offset,
                                      bool hand_back_ctx) {
    CRIB_TRY(check_ctx_only(type, attr));
    CRIB_TRY(check_ctx_size(type, attr, max_ctx_offset));
    std::vector<uint8_t> ctx = copy_ctx(attr);
    TestRunResult result;
    result.retval = static_cast<uint32_t>(run(ctx.empty() ? nullptr : ctx.data()));
    if (hand_back_ctx) result.ctx_in_after = std::move(ctx);
    return result;
}

}  // namespace

// bpf_prog_run_crib (seed 000). The kernel ignores `cpu` here, and so does
// crib.
Result<TestRunResult> test_run_crib(const ProgTypeInfo& type, const TestRunAttr& attr,
                                    const RunFn& run, uint32_t max_ctx_offset) {
    return run_on_ctx_copy(type, attr, run, max_ctx_offset, false);
}

// bpf_prog_test_run_syscall: crib's rules, and the context, which the
// program may write, goes back to the caller (into ctx_in in the kernel).
Result<TestRunResult> test_run_syscall(const ProgTypeInfo& type, const TestRunAttr& attr,
                                       const RunFn& run, uint32_t max_ctx_offset) {
    return run_on_ctx_copy(type, attr, run, max_ctx_offset, true);
}

// bpf_prog_test_run_xdp without live frames or fragments: data_in is the
// packet (metadata first when ctx says so), ctx_in/ctx_out a struct xdp_md,
// and the program sees a struct xdp_md of addresses into a buffer below
// 4 GiB with XDP_PACKET_HEADROOM in front.
Result<TestRunResult> test_run_xdp(const ProgTypeInfo& type, const TestRunAttr& attr,
                                   const RunFn& run, uint32_t) {
    if (attr.flags & kTestXdpLiveFrames)
        return make_error(EOPNOTSUPP, "{}: flags: BPF_F_TEST_XDP_LIVE_FRAMES is not supported",
                          type.name);
    if (attr.flags) return make_error(EINVAL, "{}: flags {:#x} unknown", type.name, attr.flags);
    if (attr.batch_size)
        return make_error(EINVAL, "{}: batch_size must be 0 without live frames", type.name);

    const bool has_ctx = given(attr.ctx_in) || given(attr.ctx_out);
    XdpMd md{};
    if (given(attr.ctx_in)) {
        // bpf_check_uarg_tail_zero: a larger struct is fine if the tail is 0.
        for (size_t i = sizeof md; i < attr.ctx_in.size(); ++i)
            if (attr.ctx_in[i])
                return make_error(E2BIG, "{}: ctx_in: non-zero bytes past struct xdp_md",
                                  type.name);
        std::memcpy(&md, attr.ctx_in.data(), std::min(sizeof md, attr.ctx_in.size()));
    }

    const size_t size = attr.data_in.size();
    if (size < kEthHlen)
        return make_error(EINVAL, "{}: data_size_in {} is smaller than an Ethernet header ({})",
                          type.name, size, kEthHlen);

    uint32_t metalen = 0;
    if (has_ctx) {
        if (md.data_meta) return make_error(EINVAL, "{}: ctx_in: data_meta must be 0", type.name);
        if (md.data_end != size)
            return make_error(EINVAL, "{}: ctx_in: data_end {} must equal data_size_in {}",
                              type.name, md.data_end, size);
        if (md.data > md.data_end)
            return make_error(EINVAL, "{}: ctx_in: data {} is past data_end {}", type.name, md.data,
                              md.data_end);
        // xdp_metalen_invalid: a multiple of 4, at most 32.
        if (md.data % 4 || md.data > 32)
            return make_error(EINVAL,
                              "{}: ctx_in: metadata length {} is not a multiple of 4 up "
                              "to 32",
                              type.name, md.data);
        if (md.egress_ifindex)
            return make_error(EINVAL, "{}: ctx_in: egress_ifindex must be 0", type.name);
        if (!md.ingress_ifindex && md.rx_queue_index)
            return make_error(EINVAL, "{}: ctx_in: rx_queue_index needs ingress_ifindex",
                              type.name);
        // Crib has no network devices to receive on.
        if (md.ingress_ifindex)
            return make_error(ENODEV, "{}: ctx_in: no device with ifindex {}", type.name,
                              md.ingress_ifindex);
        metalen = md.data;
    }
    // The metadata comes out of the headroom, so it takes no packet room.
    if (size - metalen > kXdpMaxData)
        return make_error(EINVAL, "{}: data_size_in {} is larger than {} (no fragments in crib)",
                          type.name, size, kXdpMaxData + metalen);

    auto buffer = CRIB_TRY(LowBuffer::map(type, kXdpHeadroom + size));
    uint8_t* meta = buffer.data() + kXdpHeadroom - metalen;
    std::memcpy(meta, attr.data_in.data(), size);
    XdpMd ctx{};
    ctx.data_meta = low_address(meta);
    ctx.data = ctx.data_meta + metalen;
    ctx.data_end = ctx.data_meta + static_cast<uint32_t>(size);
    ctx.ingress_ifindex = md.ingress_ifindex;
    ctx.rx_queue_index = md.rx_queue_index;

    const uint32_t repeat = attr.repeat ? attr.repeat : 1;
    TestRunResult result;
    const auto start = std::chrono::steady_clock::now();
    for (uint32_t i = 0; i < repeat; ++i) result.retval = static_cast<uint32_t>(run(&ctx));
    result.duration_ns = mean_ns(std::chrono::steady_clock::now() - start, repeat);

    // xdp_convert_buff_to_md, then bpf_test_finish from data_meta.
    const size_t out_size = ctx.data_end - ctx.data_meta;
    md.data = static_cast<uint32_t>(ctx.data - ctx.data_meta);
    md.data_end = static_cast<uint32_t>(out_size);
    md.data_meta = 0;
    result.data_size_out = static_cast<uint32_t>(out_size);
    CRIB_TRY(copy_out(type, "data_out", attr.data_out,
                      reinterpret_cast<const uint8_t*>(static_cast<uintptr_t>(ctx.data_meta)),
                      out_size));
    if (has_ctx) {
        result.ctx_size_out = sizeof md;
        CRIB_TRY(copy_out(type, "ctx_out", attr.ctx_out, reinterpret_cast<const uint8_t*>(&md),
                          sizeof md));
    }
    return result;
}

}  // namespace crib::progs::detail
