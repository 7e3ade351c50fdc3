// Program types: one table, a row per kernel program type (enum
// bpf_prog_type) plus crib's own. A row says how programs of the type are
// named in objects (libbpf's section_defs), what their context looks like and
// who may touch it, which helpers and kfuncs they may call, and how
// BPF_PROG_RUN runs them. Types crib cannot execute still get a row so tools
// can name them.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string_view>
#include <vector>

#include "base/result.hpp"
#include "progs/helpers.hpp"

namespace crib::progs {

// The kernel's numbering. Crib is ours: the next number after the kernel's
// last type (netfilter = 32), which is where the CRIB RFC patch puts it.
enum class ProgType : uint32_t {
    Unspec = 0,
    SocketFilter = 1,
    Kprobe = 2,
    SchedCls = 3,
    SchedAct = 4,
    Tracepoint = 5,
    Xdp = 6,
    PerfEvent = 7,
    CgroupSkb = 8,
    CgroupSock = 9,
    LwtIn = 10,
    LwtOut = 11,
    LwtXmit = 12,
    SockOps = 13,
    SkSkb = 14,
    CgroupDevice = 15,
    SkMsg = 16,
    RawTracepoint = 17,
    CgroupSockAddr = 18,
    LwtSeg6local = 19,
    LircMode2 = 20,
    SkReuseport = 21,
    FlowDissector = 22,
    CgroupSysctl = 23,
    RawTracepointWritable = 24,
    CgroupSockopt = 25,
    Tracing = 26,
    StructOps = 27,
    Ext = 28,
    Lsm = 29,
    SkLookup = 30,
    Syscall = 31,
    Netfilter = 32,
    Crib = 33,
};

inline constexpr uint32_t kProgTypeCount = 34;

// enum bpf_access_type.
enum class AccessType : uint8_t { Read = 1, Write = 2 };

// One libbpf section_defs row. The pattern follows libbpf's matching rules:
// "name+" matches "name" or "name/...", "name/" matches any "name/..." and a
// bare "name" matches only itself.
struct SectionDef {
    std::string_view pattern;
    uint32_t expected_attach_type;  // enum bpf_attach_type
    bool sleepable;
};

struct ContextInfo {
    // Bytes of the context the program sees; 0 when the caller of
    // BPF_PROG_RUN decides (crib, syscall).
    uint32_t size;
    bool read_only;
    // The verifier's question for a ctx load or store (off and size in
    // bytes). Mirrors the type's is_valid_access in the kernel.
    bool (*is_valid_access)(int32_t off, int32_t size, AccessType type);
};

// BPF_PROG_RUN attributes (union bpf_attr's test part). Pointers left null
// mean "not given", as a zero user pointer does in the kernel.
struct TestRunAttr {
    std::span<const uint8_t> ctx_in;
    std::span<uint8_t> ctx_out;
    std::span<const uint8_t> data_in;
    std::span<uint8_t> data_out;
    uint32_t repeat = 0;
    uint32_t duration = 0;
    uint32_t flags = 0;
    uint32_t batch_size = 0;
    uint32_t cpu = 0;
};

struct TestRunResult {
    uint32_t retval = 0;
    uint32_t duration_ns = 0;  // mean per run over `repeat` runs
    uint32_t ctx_size_out = 0;
    uint32_t data_size_out = 0;
    // The context after the run, for types whose context the program may
    // write and the kernel copies back into ctx_in (syscall).
    std::vector<uint8_t> ctx_in_after;
};

// Runs the loaded program once with r1 = ctx and returns r0. Supplied by the
// runtime, so this layer does not care which engine runs it.
using RunFn = std::function<uint64_t(const void* ctx)>;

struct ProgTypeInfo;
using TestRunFn = Result<TestRunResult> (*)(const ProgTypeInfo& type, const TestRunAttr& attr,
                                            const RunFn& run, uint32_t max_ctx_offset);

struct ProgTypeInfo {
    ProgType type;
    std::string_view name;  // libbpf's prog_type_name
    std::span<const SectionDef> sections;
    // Crib can load and execute programs of this type (through BPF_PROG_RUN
    // or its own layers: iterators, struct_ops).
    bool runnable;
    ContextInfo ctx;
    // The helper a program of this type may call with that id, or null
    // (the kernel's get_func_proto).
    const HelperInfo* (*get_func_proto)(int32_t helper_id);
    // Null when BPF_PROG_RUN is not supported for the type.
    TestRunFn test_run;
};

// Every row, in kernel enum order.
std::span<const ProgTypeInfo> prog_types();
const ProgTypeInfo* prog_type(ProgType type);
const ProgTypeInfo* prog_type_by_name(std::string_view name);
// The type of SEC(sec), by libbpf's rules, or null for an unknown section.
const ProgTypeInfo* prog_type_for_section(std::string_view sec);
// The section row SEC(sec) matched, or null.
const SectionDef* section_def_for(std::string_view sec);
bool section_matches(const SectionDef& def, std::string_view sec);

// The verifier's ctx access check: asks the type's rule and, when allowed,
// raises max_ctx_offset to off + size (what BPF_PROG_RUN later demands of
// ctx_size_in), as check_ctx_access does.
bool check_ctx_access(const ProgTypeInfo& type, int32_t off, int32_t size, AccessType access,
                      uint32_t& max_ctx_offset);

// BPF_PROG_RUN for a program of this type: EOPNOTSUPP when the type has no
// test_run, else the row's rules.
Result<TestRunResult> test_run(const ProgTypeInfo& type, const TestRunAttr& attr, const RunFn& run,
                               uint32_t max_ctx_offset);

// struct xdp_md. User space passes it to BPF_PROG_RUN with offsets into the
// packet; the program sees it with data, data_end and data_meta holding the
// packet's addresses. Those fit the 32-bit fields because crib maps packet
// buffers below 4 GiB (MAP_32BIT), so programs built against the kernel's
// struct xdp_md run unchanged, without the context rewriting the kernel's
// verifier does.
struct XdpMd {
    uint32_t data;
    uint32_t data_end;
    uint32_t data_meta;
    uint32_t ingress_ifindex;
    uint32_t rx_queue_index;
    uint32_t egress_ifindex;
};

// XDP_PACKET_HEADROOM and the largest packet a non-live xdp run takes in one
// buffer (a page less headroom and skb_shared_info tailroom).
inline constexpr uint32_t kXdpHeadroom = 256;
inline constexpr uint32_t kXdpMaxData = 4096 - kXdpHeadroom - 320;
inline constexpr uint32_t kEthHlen = 14;

}  // namespace crib::progs
