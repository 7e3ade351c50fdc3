// Helper functions: one table, a row per helper crib knows, numbered as the
// kernel's enum bpf_func_id. A row's prototype is data in the shape of the
// kernel's bpf_func_proto so the verifier can read it; its native function
// is what the interpreter and the JIT call.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "base/log.hpp"
#include "isa/abi.hpp"

namespace crib::progs {

using isa::Callable;
using isa::HelperFn;

// enum bpf_arg_type, base kinds. Modifiers are in ArgFlag.
enum class ArgKind : uint8_t {
    DontCare,              // ARG_DONTCARE: unused
    ConstMapPtr,           // ARG_CONST_MAP_PTR
    PtrToMapKey,           // ARG_PTR_TO_MAP_KEY
    PtrToMapValue,         // ARG_PTR_TO_MAP_VALUE
    PtrToMem,              // ARG_PTR_TO_MEM: its size is the next argument
    ConstSize,             // ARG_CONST_SIZE
    ConstSizeOrZero,       // ARG_CONST_SIZE_OR_ZERO
    PtrToCtx,              // ARG_PTR_TO_CTX
    Anything,              // ARG_ANYTHING
    PtrToRingbufMem,       // ARG_PTR_TO_RINGBUF_MEM (from bpf_ringbuf_reserve)
    ConstAllocSizeOrZero,  // ARG_CONST_ALLOC_SIZE_OR_ZERO: size of returned memory
    PtrToFunc,             // ARG_PTR_TO_FUNC: a callback (exec::Callable)
    PtrToStack,            // ARG_PTR_TO_STACK
    PtrToConstStr,         // ARG_PTR_TO_CONST_STR: NUL-terminated, read-only map value
    PtrToLong,             // ARG_PTR_TO_LONG
    PtrToIter,             // kfuncs: an open-coded iterator object on the stack
};

enum ArgFlag : uint8_t {
    kMaybeNull = 1 << 0,  // PTR_MAYBE_NULL
    kReadOnly = 1 << 1,   // MEM_RDONLY: the helper only reads
    kUninit = 1 << 2,     // MEM_UNINIT: the helper writes all of it
    kRelease = 1 << 3,    // OBJ_RELEASE: ends the life of an acquired reference
};

struct ArgSpec {
    ArgKind kind = ArgKind::DontCare;
    uint8_t flags = 0;
    bool has(ArgFlag flag) const { return (flags & flag) != 0; }
};

// enum bpf_return_type, base kinds; modifiers in RetFlag.
enum class RetKind : uint8_t {
    Integer,        // RET_INTEGER
    Void,           // RET_VOID
    PtrToMapValue,  // RET_PTR_TO_MAP_VALUE
    PtrToMem,       // RET_PTR_TO_MEM (size from the ConstAllocSizeOrZero argument)
};

enum RetFlag : uint8_t {
    kRetMaybeNull = 1 << 0,  // PTR_MAYBE_NULL
    kRetRingbuf = 1 << 1,    // MEM_RINGBUF: must be submitted or discarded
};

struct RetSpec {
    RetKind kind = RetKind::Integer;
    uint8_t flags = 0;
    bool has(RetFlag flag) const { return (flags & flag) != 0; }
};

// Which of the kernel's proto functions offers a helper: bpf_base_func_proto
// (every type), or only tracing-like types (bpf_tracing_func_proto), or a
// helper the engine implements itself.
enum class HelperGroup : uint8_t { Base, Tracing };

struct HelperProto {
    RetSpec ret;
    std::array<ArgSpec, 5> args;
    bool gpl_only = false;
    // The return value is a reference the program must release (is_acquire_function).
    bool acquire = false;
};

struct HelperInfo {
    int32_t id;             // enum bpf_func_id
    std::string_view name;  // without the bpf_ prefix, as __BPF_FUNC_MAPPER spells it
    HelperProto proto;
    HelperGroup group;
    // Null for helpers the engine implements itself (tail_call).
    HelperFn fn;
};

// Every row, in id order.
std::span<const HelperInfo> helpers();
const HelperInfo* find_helper(int32_t id);
const HelperInfo* find_helper(std::string_view name);

// The proto functions program-type rows point at.
const HelperInfo* base_func_proto(int32_t id);     // bpf_base_func_proto
const HelperInfo* tracing_func_proto(int32_t id);  // base plus tracing helpers
const HelperInfo* no_func_proto(int32_t id);       // types crib cannot run

// enum bpf_func_id values crib code refers to by name.
namespace helper_id {
inline constexpr int32_t kMapLookupElem = 1, kMapUpdateElem = 2, kMapDeleteElem = 3, kProbeRead = 4,
                         kKtimeGetNs = 5, kTracePrintk = 6, kGetPrandomU32 = 7,
                         kGetSmpProcessorId = 8, kTailCall = isa::kHelperTailCall,
                         kGetCurrentPidTgid = 14, kGetCurrentUidGid = 15, kGetCurrentComm = 16,
                         kGetNumaNodeId = 42, kProbeReadStr = 45, kProbeReadUser = 112,
                         kProbeReadKernel = 113, kProbeReadUserStr = 114, kProbeReadKernelStr = 115,
                         kJiffies64 = 118, kKtimeGetBootNs = 125, kRingbufOutput = 130,
                         kRingbufReserve = 131, kRingbufSubmit = 132, kRingbufDiscard = 133,
                         kRingbufQuery = 134, kKtimeGetCoarseNs = 160, kForEachMapElem = 164,
                         kSnprintf = 165, kLoop = 181, kStrncmp = 182;
}  // namespace helper_id

// Where bpf_trace_printk lines go. The default discards them.
void set_trace_sink(LogSink sink);

// bpf_loop's limit on iterations (BPF_MAX_LOOPS).
inline constexpr uint64_t kMaxLoops = 1u << 23;

}  // namespace crib::progs
