// The program-type table. Section patterns are libbpf's section_defs (with
// the CRIB patch's "crib"); context rules mirror each type's
// is_valid_access in the kernel.
#include "progs/prog_types.hpp"

#include <cstddef>

#include "progs/test_run_impl.hpp"

namespace crib::progs {
namespace {

constexpr int32_t kU16Max = 0xffff;
constexpr int32_t kMaxBpfFuncArgs = 12;  // MAX_BPF_FUNC_ARGS

bool valid_size(int32_t size) {
    return size == 1 || size == 2 || size == 4 || size == 8;
}

// Types crib has no context for.
bool deny_access(int32_t, int32_t, AccessType) {
    return false;
}

// bpf_crib_is_valid_access (seed 000): read-only, [0, U16_MAX), aligned.
bool crib_access(int32_t off, int32_t size, AccessType type) {
    if (type != AccessType::Read) return false;
    if (!valid_size(size)) return false;
    if (off < 0 || off >= kU16Max) return false;
    return off % size == 0;
}

// syscall_prog_is_valid_access: the same bounds, and writes allowed (the
// context is copied back to the caller).
bool syscall_access(int32_t off, int32_t size, AccessType) {
    if (!valid_size(size)) return false;
    if (off < 0 || off >= kU16Max) return false;
    return off % size == 0;
}

// xdp_is_valid_access: read-only, whole u32 fields of struct xdp_md.
bool xdp_access(int32_t off, int32_t size, AccessType type) {
    if (type != AccessType::Read) return false;
    if (off < 0 || off >= static_cast<int32_t>(sizeof(XdpMd))) return false;
    return size == sizeof(uint32_t) && off % size == 0;
}

// tracing_prog_is_valid_access / struct_ops: the context is the traced
// function's arguments as u64s. btf_ctx_access's typed checks are the
// verifier's, with BTF in hand.
bool args_access(int32_t off, int32_t size, AccessType type) {
    if (type != AccessType::Read) return false;
    if (!valid_size(size)) return false;
    if (off < 0 || off >= 8 * kMaxBpfFuncArgs) return false;
    return off % size == 0;
}

// enum bpf_attach_type values the section rows name.
enum : uint32_t {
    kCgroupInetIngress = 0,
    kCgroupInetEgress = 1,
    kCgroupInetSockCreate = 2,
    kCgroupSockOps = 3,
    kSkSkbStreamParser = 4,
    kSkSkbStreamVerdict = 5,
    kCgroupDevice = 6,
    kSkMsgVerdict = 7,
    kCgroupInet4Bind = 8,
    kCgroupInet6Bind = 9,
    kCgroupInet4Connect = 10,
    kCgroupInet6Connect = 11,
    kCgroupInet4PostBind = 12,
    kCgroupInet6PostBind = 13,
    kCgroupUdp4Sendmsg = 14,
    kCgroupUdp6Sendmsg = 15,
    kLircMode2 = 16,
    kFlowDissector = 17,
    kCgroupSysctl = 18,
    kCgroupUdp4Recvmsg = 19,
    kCgroupUdp6Recvmsg = 20,
    kCgroupGetsockopt = 21,
    kCgroupSetsockopt = 22,
    kTraceRawTp = 23,
    kTraceFentry = 24,
    kTraceFexit = 25,
    kModifyReturn = 26,
    kLsmMac = 27,
    kTraceIter = 28,
    kCgroupInet4Getpeername = 29,
    kCgroupInet6Getpeername = 30,
    kCgroupInet4Getsockname = 31,
    kCgroupInet6Getsockname = 32,
    kXdpDevmap = 33,
    kCgroupInetSockRelease = 34,
    kXdpCpumap = 35,
    kSkLookup = 36,
    kXdp = 37,
    kSkSkbVerdict = 38,
    kSkReuseportSelect = 39,
    kSkReuseportSelectOrMigrate = 40,
    kPerfEvent = 41,
    kTraceKprobeMulti = 42,
    kLsmCgroup = 43,
    kNetfilter = 45,
    kTcxIngress = 46,
    kTcxEgress = 47,
};
constexpr bool kSleepable = true;

constexpr SectionDef kSocketSecs[] = {{"socket", 0, false}};
constexpr SectionDef kKprobeSecs[] = {
    {"kprobe+", 0, false},
    {"uprobe+", 0, false},
    {"uprobe.s+", 0, kSleepable},
    {"kretprobe+", 0, false},
    {"uretprobe+", 0, false},
    {"uretprobe.s+", 0, kSleepable},
    {"kprobe.multi+", kTraceKprobeMulti, false},
    {"kretprobe.multi+", kTraceKprobeMulti, false},
    {"ksyscall+", 0, false},
    {"kretsyscall+", 0, false},
    {"usdt+", 0, false},
    {"usdt.s+", 0, kSleepable},
};
constexpr SectionDef kSchedClsSecs[] = {
    {"tc/ingress", kTcxIngress, false},
    {"tc/egress", kTcxEgress, false},
    {"tcx/ingress", kTcxIngress, false},
    {"tcx/egress", kTcxEgress, false},
    {"tc", 0, false},
    {"classifier", 0, false},
};
constexpr SectionDef kSchedActSecs[] = {{"action", 0, false}};
constexpr SectionDef kTracepointSecs[] = {{"tracepoint+", 0, false}, {"tp+", 0, false}};
constexpr SectionDef kXdpSecs[] = {
    {"xdp.frags/devmap", kXdpDevmap, false},
    {"xdp/devmap", kXdpDevmap, false},
    {"xdp.frags/cpumap", kXdpCpumap, false},
    {"xdp/cpumap", kXdpCpumap, false},
    {"xdp.frags", kXdp, false},
    {"xdp", kXdp, false},
};
constexpr SectionDef kPerfEventSecs[] = {{"perf_event", 0, false}};
constexpr SectionDef kCgroupSkbSecs[] = {
    {"cgroup_skb/ingress", kCgroupInetIngress, false},
    {"cgroup_skb/egress", kCgroupInetEgress, false},
    {"cgroup/skb", 0, false},
};
constexpr SectionDef kCgroupSockSecs[] = {
    {"cgroup/sock_create", kCgroupInetSockCreate, false},
    {"cgroup/sock_release", kCgroupInetSockRelease, false},
    {"cgroup/sock", kCgroupInetSockCreate, false},
    {"cgroup/post_bind4", kCgroupInet4PostBind, false},
    {"cgroup/post_bind6", kCgroupInet6PostBind, false},
};
constexpr SectionDef kLwtInSecs[] = {{"lwt_in", 0, false}};
constexpr SectionDef kLwtOutSecs[] = {{"lwt_out", 0, false}};
constexpr SectionDef kLwtXmitSecs[] = {{"lwt_xmit", 0, false}};
constexpr SectionDef kSockOpsSecs[] = {{"sockops", kCgroupSockOps, false}};
constexpr SectionDef kSkSkbSecs[] = {
    {"sk_skb/stream_parser", kSkSkbStreamParser, false},
    {"sk_skb/stream_verdict", kSkSkbStreamVerdict, false},
    {"sk_skb/verdict", kSkSkbVerdict, false},
    {"sk_skb", 0, false},
};
constexpr SectionDef kCgroupDeviceSecs[] = {{"cgroup/dev", kCgroupDevice, false}};
constexpr SectionDef kSkMsgSecs[] = {{"sk_msg", kSkMsgVerdict, false}};
constexpr SectionDef kRawTpSecs[] = {{"raw_tracepoint+", 0, false}, {"raw_tp+", 0, false}};
constexpr SectionDef kCgroupSockAddrSecs[] = {
    {"cgroup/bind4", kCgroupInet4Bind, false},
    {"cgroup/bind6", kCgroupInet6Bind, false},
    {"cgroup/connect4", kCgroupInet4Connect, false},
    {"cgroup/connect6", kCgroupInet6Connect, false},
    {"cgroup/sendmsg4", kCgroupUdp4Sendmsg, false},
    {"cgroup/sendmsg6", kCgroupUdp6Sendmsg, false},
    {"cgroup/recvmsg4", kCgroupUdp4Recvmsg, false},
    {"cgroup/recvmsg6", kCgroupUdp6Recvmsg, false},
    {"cgroup/getpeername4", kCgroupInet4Getpeername, false},
    {"cgroup/getpeername6", kCgroupInet6Getpeername, false},
    {"cgroup/getsockname4", kCgroupInet4Getsockname, false},
    {"cgroup/getsockname6", kCgroupInet6Getsockname, false},
};
constexpr SectionDef kLwtSeg6Secs[] = {{"lwt_seg6local", 0, false}};
constexpr SectionDef kLircSecs[] = {{"lirc_mode2", kLircMode2, false}};
constexpr SectionDef kSkReuseportSecs[] = {
    {"sk_reuseport/migrate", kSkReuseportSelectOrMigrate, false},
    {"sk_reuseport", kSkReuseportSelect, false},
};
constexpr SectionDef kFlowDissectorSecs[] = {{"flow_dissector", kFlowDissector, false}};
constexpr SectionDef kCgroupSysctlSecs[] = {{"cgroup/sysctl", kCgroupSysctl, false}};
constexpr SectionDef kRawTpWritableSecs[] = {{"raw_tracepoint.w+", 0, false},
                                             {"raw_tp.w+", 0, false}};
constexpr SectionDef kCgroupSockoptSecs[] = {
    {"cgroup/getsockopt", kCgroupGetsockopt, false},
    {"cgroup/setsockopt", kCgroupSetsockopt, false},
};
constexpr SectionDef kTracingSecs[] = {
    {"tp_btf+", kTraceRawTp, false},         {"fentry+", kTraceFentry, false},
    {"fmod_ret+", kModifyReturn, false},     {"fexit+", kTraceFexit, false},
    {"fentry.s+", kTraceFentry, kSleepable}, {"fmod_ret.s+", kModifyReturn, kSleepable},
    {"fexit.s+", kTraceFexit, kSleepable},   {"iter+", kTraceIter, false},
    {"iter.s+", kTraceIter, kSleepable},
};
constexpr SectionDef kStructOpsSecs[] = {{"struct_ops+", 0, false},
                                         {"struct_ops.s+", 0, kSleepable}};
constexpr SectionDef kExtSecs[] = {{"freplace+", 0, false}};
constexpr SectionDef kLsmSecs[] = {
    {"lsm+", kLsmMac, false}, {"lsm.s+", kLsmMac, kSleepable}, {"lsm_cgroup+", kLsmCgroup, false}};
constexpr SectionDef kSkLookupSecs[] = {{"sk_lookup", kSkLookup, false}};
constexpr SectionDef kSyscallSecs[] = {{"syscall", 0, kSleepable}};
constexpr SectionDef kNetfilterSecs[] = {{"netfilter", kNetfilter, false}};
constexpr SectionDef kCribSecs[] = {{"crib", 0, false}};

constexpr ContextInfo kNoCtx{0, true, deny_access};
constexpr ContextInfo kArgsCtx{8 * kMaxBpfFuncArgs, true, args_access};

using T = ProgType;
constexpr bool kRuns = true, kNameOnly = false;

// One row per enum bpf_prog_type value, in order (checked below).
constexpr ProgTypeInfo kTypes[] = {
    {T::Unspec, "unspec", {}, kNameOnly, kNoCtx, no_func_proto, nullptr},
    {T::SocketFilter, "socket_filter", kSocketSecs, kNameOnly, kNoCtx, base_func_proto, nullptr},
    {T::Kprobe, "kprobe", kKprobeSecs, kNameOnly, kNoCtx, tracing_func_proto, nullptr},
    {T::SchedCls, "sched_cls", kSchedClsSecs, kNameOnly, kNoCtx, base_func_proto, nullptr},
    {T::SchedAct, "sched_act", kSchedActSecs, kNameOnly, kNoCtx, base_func_proto, nullptr},
    {T::Tracepoint, "tracepoint", kTracepointSecs, kNameOnly, kNoCtx, tracing_func_proto, nullptr},
    {T::Xdp,
     "xdp",
     kXdpSecs,
     kRuns,
     {sizeof(XdpMd), true, xdp_access},
     base_func_proto,
     detail::test_run_xdp},
    {T::PerfEvent, "perf_event", kPerfEventSecs, kNameOnly, kNoCtx, tracing_func_proto, nullptr},
    {T::CgroupSkb, "cgroup_skb", kCgroupSkbSecs, kNameOnly, kNoCtx, base_func_proto, nullptr},
    {T::CgroupSock, "cgroup_sock", kCgroupSockSecs, kNameOnly, kNoCtx, base_func_proto, nullptr},
    {T::LwtIn, "lwt_in", kLwtInSecs, kNameOnly, kNoCtx, base_func_proto, nullptr},
    {T::LwtOut, "lwt_out", kLwtOutSecs, kNameOnly, kNoCtx, base_func_proto, nullptr},
    {T::LwtXmit, "lwt_xmit", kLwtXmitSecs, kNameOnly, kNoCtx, base_func_proto, nullptr},
    {T::SockOps, "sock_ops", kSockOpsSecs, kNameOnly, kNoCtx, base_func_proto, nullptr},
    {T::SkSkb, "sk_skb", kSkSkbSecs, kNameOnly, kNoCtx, base_func_proto, nullptr},
    {T::CgroupDevice, "cgroup_device", kCgroupDeviceSecs, kNameOnly, kNoCtx, base_func_proto,
     nullptr},
    {T::SkMsg, "sk_msg", kSkMsgSecs, kNameOnly, kNoCtx, base_func_proto, nullptr},
    {T::RawTracepoint, "raw_tracepoint", kRawTpSecs, kNameOnly, kNoCtx, tracing_func_proto,
     nullptr},
    {T::CgroupSockAddr, "cgroup_sock_addr", kCgroupSockAddrSecs, kNameOnly, kNoCtx, base_func_proto,
     nullptr},
    {T::LwtSeg6local, "lwt_seg6local", kLwtSeg6Secs, kNameOnly, kNoCtx, base_func_proto, nullptr},
    {T::LircMode2, "lirc_mode2", kLircSecs, kNameOnly, kNoCtx, base_func_proto, nullptr},
    {T::SkReuseport, "sk_reuseport", kSkReuseportSecs, kNameOnly, kNoCtx, base_func_proto, nullptr},
    {T::FlowDissector, "flow_dissector", kFlowDissectorSecs, kNameOnly, kNoCtx, base_func_proto,
     nullptr},
    {T::CgroupSysctl, "cgroup_sysctl", kCgroupSysctlSecs, kNameOnly, kNoCtx, base_func_proto,
     nullptr},
    {T::RawTracepointWritable, "raw_tracepoint_writable", kRawTpWritableSecs, kNameOnly, kNoCtx,
     tracing_func_proto, nullptr},
    {T::CgroupSockopt, "cgroup_sockopt", kCgroupSockoptSecs, kNameOnly, kNoCtx, base_func_proto,
     nullptr},
    // Run by crib's iterator layer (iter/), not BPF_PROG_RUN.
    {T::Tracing, "tracing", kTracingSecs, kRuns, kArgsCtx, tracing_func_proto, nullptr},
    // Run by crib's struct_ops layer when the host calls the ops table.
    {T::StructOps, "struct_ops", kStructOpsSecs, kRuns, kArgsCtx, base_func_proto, nullptr},
    {T::Ext, "ext", kExtSecs, kNameOnly, kNoCtx, no_func_proto, nullptr},
    {T::Lsm, "lsm", kLsmSecs, kNameOnly, kNoCtx, tracing_func_proto, nullptr},
    {T::SkLookup, "sk_lookup", kSkLookupSecs, kNameOnly, kNoCtx, base_func_proto, nullptr},
    // The kernel's syscall type falls back to tracing_prog_func_proto.
    {T::Syscall,
     "syscall",
     kSyscallSecs,
     kRuns,
     {0, false, syscall_access},
     tracing_func_proto,
     detail::test_run_syscall},
    {T::Netfilter, "netfilter", kNetfilterSecs, kNameOnly, kNoCtx, base_func_proto, nullptr},
    // bpf_crib_func_proto defers to bpf_base_func_proto.
    {T::Crib,
     "crib",
     kCribSecs,
     kRuns,
     {0, true, crib_access},
     base_func_proto,
     detail::test_run_crib},
};

constexpr bool rows_in_enum_order() {
    for (size_t i = 0; i < std::size(kTypes); ++i)
        if (static_cast<size_t>(kTypes[i].type) != i) return false;
    return std::size(kTypes) == kProgTypeCount;
}
static_assert(rows_in_enum_order(), "kTypes must hold one row per ProgType, in enum order");

}  // namespace

std::span<const ProgTypeInfo> prog_types() {
    return kTypes;
}

const ProgTypeInfo* prog_type(ProgType type) {
    auto index = static_cast<size_t>(type);
    return index < std::size(kTypes) ? &kTypes[index] : nullptr;
}

const ProgTypeInfo* prog_type_by_name(std::string_view name) {
    for (const auto& row : kTypes)
        if (row.name == name) return &row;
    return nullptr;
}

bool section_matches(const SectionDef& def, std::string_view sec) {
    std::string_view pattern = def.pattern;
    if (pattern.empty()) return false;
    if (pattern.back() == '/') return sec.starts_with(pattern);
    if (pattern.back() == '+') {
        pattern.remove_suffix(1);
        if (!sec.starts_with(pattern)) return false;
        return sec.size() == pattern.size() || sec[pattern.size()] == '/';
    }
    return sec == pattern;
}

const SectionDef* section_def_for(std::string_view sec) {
    for (const auto& row : kTypes)
        for (const auto& def : row.sections)
            if (section_matches(def, sec)) return &def;
    return nullptr;
}

const ProgTypeInfo* prog_type_for_section(std::string_view sec) {
    for (const auto& row : kTypes)
        for (const auto& def : row.sections)
            if (section_matches(def, sec)) return &row;
    return nullptr;
}

bool check_ctx_access(const ProgTypeInfo& type, int32_t off, int32_t size, AccessType access,
                      uint32_t& max_ctx_offset) {
    if (!type.ctx.is_valid_access(off, size, access)) return false;
    const auto end = static_cast<uint32_t>(off) + static_cast<uint32_t>(size);
    if (end > max_ctx_offset) max_ctx_offset = end;
    return true;
}

Result<TestRunResult> test_run(const ProgTypeInfo& type, const TestRunAttr& attr, const RunFn& run,
                               uint32_t max_ctx_offset) {
    if (!type.test_run)
        return make_error(EOPNOTSUPP, "{}: BPF_PROG_RUN is not supported for this program type",
                          type.name);
    return type.test_run(type, attr, run, max_ctx_offset);
}

}  // namespace crib::progs
