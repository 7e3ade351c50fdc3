// The helper table. Prototypes follow the kernel's bpf_func_proto for each
// helper (kernel/bpf/helpers.c, kernel/trace/bpf_trace.c,
// kernel/bpf/ringbuf.c, kernel/bpf/bpf_iter.c); ids are enum bpf_func_id.
#include "progs/helpers.hpp"

#include <algorithm>

#include "progs/helper_impls.hpp"

namespace crib::progs {
namespace {

constexpr ArgSpec kNone{};
constexpr ArgSpec kMap{ArgKind::ConstMapPtr};
constexpr ArgSpec kKey{ArgKind::PtrToMapKey};
constexpr ArgSpec kValue{ArgKind::PtrToMapValue};
constexpr ArgSpec kAny{ArgKind::Anything};
constexpr ArgSpec kCtx{ArgKind::PtrToCtx};
constexpr ArgSpec kMemRead{ArgKind::PtrToMem, kReadOnly};
constexpr ArgSpec kMemReadOrNull{ArgKind::PtrToMem, kReadOnly | kMaybeNull};
constexpr ArgSpec kMemUninit{ArgKind::PtrToMem, kUninit};
constexpr ArgSpec kMemUninitOrNull{ArgKind::PtrToMem, kUninit | kMaybeNull};
constexpr ArgSpec kSize{ArgKind::ConstSize};
constexpr ArgSpec kSizeOrZero{ArgKind::ConstSizeOrZero};
constexpr ArgSpec kAllocSize{ArgKind::ConstAllocSizeOrZero};
constexpr ArgSpec kRingbufRelease{ArgKind::PtrToRingbufMem, kRelease};
constexpr ArgSpec kFunc{ArgKind::PtrToFunc};
constexpr ArgSpec kStackOrNull{ArgKind::PtrToStack, kMaybeNull};
constexpr ArgSpec kConstStr{ArgKind::PtrToConstStr};

constexpr RetSpec kInt{RetKind::Integer};
constexpr RetSpec kVoid{RetKind::Void};
constexpr RetSpec kMapValueOrNull{RetKind::PtrToMapValue, kRetMaybeNull};
constexpr RetSpec kRingbufMemOrNull{RetKind::PtrToMem, kRetMaybeNull | kRetRingbuf};

constexpr HelperProto proto(RetSpec ret, ArgSpec a1 = kNone, ArgSpec a2 = kNone, ArgSpec a3 = kNone,
                            ArgSpec a4 = kNone, ArgSpec a5 = kNone, bool gpl_only = false,
                            bool acquire = false) {
    return HelperProto{ret, {a1, a2, a3, a4, a5}, gpl_only, acquire};
}
constexpr bool kGpl = true;

using G = HelperGroup;
namespace id = helper_id;

// Sorted by id; a static_assert below keeps it so.
constexpr HelperInfo kHelpers[] = {
    {id::kMapLookupElem, "map_lookup_elem", proto(kMapValueOrNull, kMap, kKey), G::Base,
     impl::map_lookup_elem},
    {id::kMapUpdateElem, "map_update_elem", proto(kInt, kMap, kKey, kValue, kAny), G::Base,
     impl::map_update_elem},
    {id::kMapDeleteElem, "map_delete_elem", proto(kInt, kMap, kKey), G::Base,
     impl::map_delete_elem},
    {id::kProbeRead, "probe_read", proto(kInt, kMemUninit, kSizeOrZero, kAny, kNone, kNone, kGpl),
     G::Tracing, impl::probe_read},
    {id::kKtimeGetNs, "ktime_get_ns", proto(kInt), G::Base, impl::ktime_get_ns},
    {id::kTracePrintk, "trace_printk", proto(kInt, kMemRead, kSize, kNone, kNone, kNone, kGpl),
     G::Base, impl::trace_printk},
    {id::kGetPrandomU32, "get_prandom_u32", proto(kInt), G::Base, impl::get_prandom_u32},
    {id::kGetSmpProcessorId, "get_smp_processor_id", proto(kInt), G::Base,
     impl::get_smp_processor_id},
    // The engine implements tail calls (they replace the running program).
    {id::kTailCall, "tail_call", proto(kVoid, kCtx, kMap, kAny), G::Base, nullptr},
    {id::kGetCurrentPidTgid, "get_current_pid_tgid", proto(kInt), G::Tracing,
     impl::get_current_pid_tgid},
    {id::kGetCurrentUidGid, "get_current_uid_gid", proto(kInt), G::Tracing,
     impl::get_current_uid_gid},
    {id::kGetCurrentComm, "get_current_comm", proto(kInt, kMemUninit, kSize), G::Tracing,
     impl::get_current_comm},
    {id::kGetNumaNodeId, "get_numa_node_id", proto(kInt), G::Base, impl::get_numa_node_id},
    {id::kProbeReadStr, "probe_read_str",
     proto(kInt, kMemUninit, kSizeOrZero, kAny, kNone, kNone, kGpl), G::Tracing,
     impl::probe_read_str},
    {id::kProbeReadUser, "probe_read_user",
     proto(kInt, kMemUninit, kSizeOrZero, kAny, kNone, kNone, kGpl), G::Base, impl::probe_read},
    {id::kProbeReadKernel, "probe_read_kernel",
     proto(kInt, kMemUninit, kSizeOrZero, kAny, kNone, kNone, kGpl), G::Base, impl::probe_read},
    {id::kProbeReadUserStr, "probe_read_user_str",
     proto(kInt, kMemUninit, kSizeOrZero, kAny, kNone, kNone, kGpl), G::Base, impl::probe_read_str},
    {id::kProbeReadKernelStr, "probe_read_kernel_str",
     proto(kInt, kMemUninit, kSizeOrZero, kAny, kNone, kNone, kGpl), G::Base, impl::probe_read_str},
    {id::kJiffies64, "jiffies64", proto(kInt), G::Base, impl::jiffies64},
    {id::kKtimeGetBootNs, "ktime_get_boot_ns", proto(kInt), G::Base, impl::ktime_get_boot_ns},
    {id::kRingbufOutput, "ringbuf_output", proto(kInt, kMap, kMemRead, kSizeOrZero, kAny), G::Base,
     impl::ringbuf_output},
    {id::kRingbufReserve, "ringbuf_reserve",
     proto(kRingbufMemOrNull, kMap, kAllocSize, kAny, kNone, kNone, false, /*acquire=*/true),
     G::Base, impl::ringbuf_reserve},
    {id::kRingbufSubmit, "ringbuf_submit", proto(kVoid, kRingbufRelease, kAny), G::Base,
     impl::ringbuf_submit},
    {id::kRingbufDiscard, "ringbuf_discard", proto(kVoid, kRingbufRelease, kAny), G::Base,
     impl::ringbuf_discard},
    {id::kRingbufQuery, "ringbuf_query", proto(kInt, kMap, kAny), G::Base, impl::ringbuf_query},
    {id::kKtimeGetCoarseNs, "ktime_get_coarse_ns", proto(kInt), G::Base, impl::ktime_get_coarse_ns},
    {id::kForEachMapElem, "for_each_map_elem", proto(kInt, kMap, kFunc, kStackOrNull, kAny),
     G::Base, impl::for_each_map_elem},
    {id::kSnprintf, "snprintf",
     proto(kInt, kMemUninitOrNull, kSizeOrZero, kConstStr, kMemReadOrNull, kSizeOrZero, kGpl),
     G::Base, impl::snprintf},
    {id::kLoop, "loop", proto(kInt, kAny, kFunc, kStackOrNull, kAny), G::Base, impl::loop},
    {id::kStrncmp, "strncmp", proto(kInt, kMemRead, kSize, kConstStr), G::Base, impl::strncmp},
};

constexpr bool sorted_by_id() {
    for (size_t i = 1; i < std::size(kHelpers); ++i)
        if (kHelpers[i - 1].id >= kHelpers[i].id) return false;
    return true;
}
static_assert(sorted_by_id(), "kHelpers must be sorted by id, without duplicates");

}  // namespace

std::span<const HelperInfo> helpers() {
    return kHelpers;
}

const HelperInfo* find_helper(int32_t id) {
    auto it = std::lower_bound(std::begin(kHelpers), std::end(kHelpers), id,
                               [](const HelperInfo& h, int32_t v) { return h.id < v; });
    return it != std::end(kHelpers) && it->id == id ? &*it : nullptr;
}

const HelperInfo* find_helper(std::string_view name) {
    if (name.starts_with("bpf_")) name.remove_prefix(4);
    for (const auto& h : kHelpers)
        if (h.name == name) return &h;
    return nullptr;
}

const HelperInfo* base_func_proto(int32_t id) {
    const HelperInfo* h = find_helper(id);
    return h && h->group == HelperGroup::Base ? h : nullptr;
}

const HelperInfo* tracing_func_proto(int32_t id) {
    return find_helper(id);
}

const HelperInfo* no_func_proto(int32_t) {
    return nullptr;
}

}  // namespace crib::progs
