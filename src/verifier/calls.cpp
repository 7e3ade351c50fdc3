// Calls and exits: helper arguments checked against the prototypes in
// progs/helpers.hpp, return types applied, references acquired and
// released; bpf-to-bpf calls with their own frames; callbacks (bpf_loop,
// bpf_for_each_map_elem) verified as functions the helper calls again and
// again; and what exit demands of r0. Kfuncs are in kfunc.cpp.
#include <algorithm>
#include <functional>

#include "verifier/btf_access.hpp"
#include "verifier/checker.hpp"

namespace crib::verifier {
namespace {

namespace hid = progs::helper_id;
using maps::MapType;

// Which map types a helper takes (the kernel's check_map_func_compatibility,
// as rows): a helper not listed takes any map but ringbuf and prog_array.
struct MapRule {
    int32_t helper;
    std::initializer_list<MapType> types;
};
const MapRule kMapRules[] = {
    {hid::kRingbufOutput, {MapType::Ringbuf}},
    {hid::kRingbufReserve, {MapType::Ringbuf}},
    {hid::kRingbufQuery, {MapType::Ringbuf}},
    {hid::kTailCall, {MapType::ProgArray}},
    {hid::kForEachMapElem,
     {MapType::Hash, MapType::Array, MapType::PercpuHash, MapType::PercpuArray, MapType::LruHash,
      MapType::LruPercpuHash}},
};

bool map_allowed(int32_t helper, MapType type) {
    for (const MapRule& rule : kMapRules)
        if (rule.helper == helper)
            return std::find(rule.types.begin(), rule.types.end(), type) != rule.types.end();
    return type != MapType::Ringbuf && type != MapType::ProgArray;
}

// Return value ranges by program type (the kernel's check_return_code).
struct ReturnRange {
    progs::ProgType type;
    int64_t min, max;
};
constexpr ReturnRange kReturnRanges[] = {
    {progs::ProgType::CgroupSock, 0, 1},     {progs::ProgType::CgroupDevice, 0, 1},
    {progs::ProgType::CgroupSysctl, 0, 1},   {progs::ProgType::CgroupSockopt, 0, 1},
    {progs::ProgType::CgroupSockAddr, 0, 1}, {progs::ProgType::SkLookup, 0, 1},
};

std::string range_text(const Scalar& value) {
    if (value == Scalar::unknown()) return "unknown scalar value";
    return fmt::format("smin={} smax={}", value.smin, value.smax);
}

}  // namespace

void Checker::note_stack_depth(const State& state) {
    for (const Frame& frame : state.frames) {
        uint32_t& depth = m_subprog_depth[frame.subprog];
        depth = std::max(depth, (frame.depth + 7) & ~7u);
    }
}

Result<void> Checker::check_combined_stack(uint32_t pc) {
    // Deepest chain of stack frames over the call graph, from main.
    std::vector<int64_t> memo(m_in.insns.size(), -1);
    std::function<uint32_t(uint32_t, int)> deepest = [&](uint32_t sub, int level) -> uint32_t {
        if (memo[sub] >= 0) return static_cast<uint32_t>(memo[sub]);
        uint32_t below = 0;
        if (level < static_cast<int>(kMaxCallFrames) + 1)
            for (auto [caller, callee] : m_call_edges)
                if (caller == sub) below = std::max(below, deepest(callee, level + 1));
        memo[sub] = m_subprog_depth[sub] + below;
        return static_cast<uint32_t>(memo[sub]);
    };
    m_stack_depth = deepest(0, 0);
    if (m_stack_depth > isa::kStackSize)
        return error(pc, EACCES,
                     fmt::format("combined stack size of calls is {}. Too large", m_stack_depth));
    return {};
}

void Checker::release_reference(State& state, uint32_t ref_obj_id) {
    std::erase_if(state.refs, [&](const Reference& r) { return r.id == ref_obj_id; });
    for (Frame& frame : state.frames) {
        for (RegState& reg : frame.regs)
            if (reg.ref_obj_id == ref_obj_id) reg = RegState{};
        for (int slot = 0; slot < kStackSlots; ++slot)
            if (frame.bytes[slot * 8] == StackByte::Spill &&
                frame.spills[slot].ref_obj_id == ref_obj_id)
                for (int i = 0; i < 8; ++i) frame.bytes[slot * 8 + i] = StackByte::Misc;
    }
}

Result<bool> Checker::call(Path& path, const isa::Insn& insn) {
    switch (insn.info().operation) {
        case isa::Operation::Helper:
            return call_helper(path, insn);
        case isa::Operation::Local:
            return call_local(path, insn);
        case isa::Operation::Kfunc:
            return call_kfunc(path, insn);
        default:
            return error(path.pc, EINVAL, "callx is not supported");
    }
}

Result<Scalar> Checker::check_size_arg(Path& path, int r, progs::ArgKind kind) {
    const uint32_t pc = path.pc;
    CRIB_TRY(check_reg_read(path, r));
    const RegState& reg = path.state.reg(r);
    if (reg.type != RegType::Scalar)
        return error(pc, EACCES, fmt::format("R{} type={} expected=scalar", r, type_name(reg)));
    if (reg.value.smin < 0)
        return error(
            pc, EACCES,
            fmt::format("R{} min value is negative, either use unsigned or 'var &= const'", r));
    if (kind == progs::ArgKind::ConstSize && reg.value.umin == 0)
        return error(pc, EACCES, fmt::format("R{} invalid zero-sized read", r));
    if (reg.value.umax > (uint64_t{1} << 29))
        return error(
            pc, EACCES,
            fmt::format("R{} unbounded memory access, use 'var &= const' or 'if (var < const)'",
                        r));
    return reg.value;
}

Result<void> Checker::check_helper_mem(Path& path, int regno, const Scalar& size, Access access,
                                       bool maybe_null) {
    const uint32_t pc = path.pc;
    CRIB_TRY(check_reg_read(path, regno));
    const RegState reg = path.state.reg(regno);
    if (maybe_null && is_null(reg)) return {};
    if (size.umax == 0) return {};
    if (size.umax > (uint64_t{1} << 29))
        return error(
            pc, EACCES,
            fmt::format("R{} unbounded memory access, use 'var &= const' or 'if (var < const)'",
                        regno + 1));
    auto bytes = static_cast<int64_t>(size.umax);
    if (reg.type == RegType::BtfId) {
        auto ok = check_btf_range(reg, regno, size.umax, access != Access::Read);
        if (!ok) return error(pc, ok.error().code(), ok.error().message());
        return {};
    }
    if (reg.type != RegType::Stack)
        return check_mem(path, regno, 0, static_cast<int>(bytes), access, nullptr);
    if (reg.value.smin < -isa::kStackSize || reg.value.smax > isa::kStackSize)
        return error(pc, EACCES,
                     fmt::format("R{} unbounded indirect variable offset stack access", regno));
    Frame& frame = path.state.frames[reg.frameno];
    const int64_t lo = reg.off + reg.value.smin;
    const int64_t end = reg.off + reg.value.smax + bytes;
    if (lo < -isa::kStackSize || end > 0)
        return error(
            pc, EACCES,
            fmt::format("invalid indirect access to stack R{} off={} size={}", regno, lo, bytes));
    frame.depth = std::max<uint32_t>(frame.depth, static_cast<uint32_t>(-lo));
    note_stack_depth(path.state);
    auto at = [&](int64_t off) -> StackByte& {
        return frame.bytes[static_cast<size_t>(off + isa::kStackSize)];
    };
    for (int64_t b = lo; b < end; ++b)
        if (at(b) == StackByte::Iter)
            return error(pc, EACCES,
                         fmt::format("R{} indirect access to iter_{} state at stack off {}", regno,
                                     frame.iters[(b + isa::kStackSize) / 8].name, b));
    if (access != Access::Write) {
        for (int64_t b = lo; b < end; ++b)
            if (at(b) == StackByte::Invalid)
                return error(pc, EACCES,
                             fmt::format("invalid indirect read from stack R{} off {}+{} size {}",
                                         regno, lo, b - lo, bytes));
        if (access == Access::Read) return {};
    }
    // The callee may write any of these bytes: spilled registers there are
    // gone, and the bytes it surely writes become data.
    for (int64_t b = lo; b < end; ++b) {
        if (at(b) == StackByte::Spill) {
            int64_t slot = ((b + isa::kStackSize) / 8) * 8 - isa::kStackSize;
            for (int i = 0; i < 8; ++i) at(slot + i) = StackByte::Misc;
        } else if (at(b) == StackByte::Zero) {
            at(b) = StackByte::Misc;
        }
    }
    if (reg.value.is_const())
        for (int64_t b = lo; b < lo + static_cast<int64_t>(size.umin); ++b) at(b) = StackByte::Misc;
    return {};
}

Result<bool> Checker::call_helper(Path& path, const isa::Insn& insn) {
    const uint32_t pc = path.pc;
    const int32_t id = insn.imm;
    if (id == object::kPoisonHelper)
        return error(
            pc, EINVAL,
            fmt::format("invalid func unknown#{}: a CO-RE relocation found no target", id));
    const progs::HelperInfo* helper =
        m_in.type.get_func_proto ? m_in.type.get_func_proto(id) : nullptr;
    if (!helper) {
        if (progs::find_helper(id))
            return error(
                pc, EINVAL,
                fmt::format("program of this type cannot use helper {}#{}", helper_name(id), id));
        return error(pc, EINVAL, fmt::format("invalid func unknown#{}", id));
    }
    const progs::HelperProto& proto = helper->proto;
    std::optional<uint32_t> map;
    int mem_reg = -1;
    bool mem_write = false, mem_null = false;
    uint32_t alloc_size = 0, release = 0, callback = 0;
    bool has_callback = false;

    for (int i = 0; i < 5; ++i) {
        const progs::ArgSpec& arg = proto.args[i];
        if (arg.kind == progs::ArgKind::DontCare) break;
        const int r = i + 1;
        CRIB_TRY(check_reg_read(path, r));
        const RegState reg = path.state.reg(r);
        auto expected = [&](std::string_view what) {
            return error(pc, EACCES,
                         fmt::format("R{} type={} expected={}", r, type_name(reg), what));
        };
        const bool nullable = arg.has(progs::kMaybeNull);
        switch (arg.kind) {
            case progs::ArgKind::DontCare:
                break;
            case progs::ArgKind::ConstMapPtr:
                if (reg.type != RegType::MapPtr) return expected("map_ptr");
                map = reg.map;
                if (!map_allowed(id, m_in.maps[reg.map].spec.type))
                    return error(pc, EACCES,
                                 fmt::format("cannot pass map_type {} into func {}#{}",
                                             static_cast<uint32_t>(m_in.maps[reg.map].spec.type),
                                             helper_name(id), id));
                break;
            case progs::ArgKind::PtrToMapKey:
            case progs::ArgKind::PtrToMapValue: {
                if (!map) return error(pc, EACCES, "invalid map_ptr to access map->key");
                const maps::MapSpec& spec = m_in.maps[*map].spec;
                uint32_t size =
                    arg.kind == progs::ArgKind::PtrToMapKey ? spec.key_size : spec.value_size;
                if (!reg.is_pointer())
                    return expected(arg.kind == progs::ArgKind::PtrToMapKey ? "fp" : "fp");
                CRIB_TRY(check_helper_mem(path, r, Scalar::constant(size), Access::Read, false));
                break;
            }
            case progs::ArgKind::PtrToMem:
                if (!(nullable && is_null(reg)) && !reg.is_pointer()) return expected("fp");
                mem_reg = r;
                mem_write = arg.has(progs::kUninit);
                mem_null = nullable;
                break;
            case progs::ArgKind::ConstSize:
            case progs::ArgKind::ConstSizeOrZero: {
                Scalar size = CRIB_TRY(check_size_arg(path, r, arg.kind));
                if (mem_reg < 0)
                    return error(pc, EACCES, fmt::format("R{} size argument without memory", r));
                CRIB_TRY(check_helper_mem(path, mem_reg, size,
                                          mem_write ? Access::Write : Access::Read, mem_null));
                break;
            }
            case progs::ArgKind::ConstAllocSizeOrZero:
                if (reg.type != RegType::Scalar || !reg.value.is_const())
                    return error(pc, EACCES, fmt::format("R{} is not a known constant'", r));
                alloc_size = static_cast<uint32_t>(reg.value.const_value());
                break;
            case progs::ArgKind::PtrToCtx:
                if (reg.type != RegType::Ctx) return expected("ctx");
                if (reg.off != 0 || !reg.value.is_const() || reg.value.const_value() != 0)
                    return error(
                        pc, EACCES,
                        fmt::format("dereference of modified ctx ptr R{} off={} disallowed", r,
                                    reg.off));
                break;
            case progs::ArgKind::Anything:
                if (reg.is_pointer())
                    return error(pc, EACCES, fmt::format("R{} leaks addr into helper function", r));
                break;
            case progs::ArgKind::PtrToRingbufMem:
                if (reg.type != RegType::Mem || !reg.ringbuf || reg.maybe_null)
                    return expected("ringbuf_mem");
                if (reg.off != 0 || !reg.value.is_const() || reg.value.const_value() != 0)
                    return error(
                        pc, EACCES,
                        fmt::format("R{} must have zero offset when passed to release func", r));
                if (arg.has(progs::kRelease)) release = reg.ref_obj_id;
                break;
            case progs::ArgKind::PtrToFunc:
                if (reg.type != RegType::Func) return expected("func");
                callback = reg.subprog;
                has_callback = true;
                break;
            case progs::ArgKind::PtrToStack:
                if (nullable && is_null(reg)) break;
                if (reg.type != RegType::Stack) return expected("fp");
                break;
            case progs::ArgKind::PtrToConstStr:
                if (reg.type != RegType::MapValue || !reg.read_only)
                    return error(pc, EACCES,
                                 fmt::format("R{} does not point to a readonly map'", r));
                CRIB_TRY(check_mem(path, r, 0, 1, Access::Read, nullptr));
                break;
            case progs::ArgKind::PtrToLong:
                CRIB_TRY(check_helper_mem(path, r, Scalar::constant(8), Access::Write, false));
                break;
            case progs::ArgKind::PtrToIter:
                return error(
                    pc, EINVAL,
                    fmt::format("helper {}#{} cannot take an iterator", helper_name(id), id));
        }
    }
    if (release) {
        if (std::none_of(path.state.refs.begin(), path.state.refs.end(),
                         [&](const Reference& ref) { return ref.id == release; }))
            return error(pc, EACCES, "release of a reference not acquired");
        release_reference(path.state, release);
    }

    if (has_callback) {
        // The helper may return without calling back at all...
        Path skip = path;
        for (int r = 1; r <= 5; ++r) skip.state.reg(r) = RegState{};
        skip.state.reg(0) = RegState::unknown();
        skip.pc = pc + 1;
        push(std::move(skip));
        // ...or call the callback, which on exit comes back to this call.
        if (path.state.frames.size() >= kMaxCallFrames)
            return error(pc, EACCES,
                         fmt::format("the call stack of {} frames is too deep !",
                                     path.state.frames.size() + 1));
        Frame frame;
        frame.callsite = pc;
        frame.subprog = callback;
        frame.callback = true;
        frame.callback_helper = id;
        const Frame& caller = path.state.top();
        if (id == hid::kForEachMapElem && map) {
            RegState m = RegState::pointer(RegType::MapPtr),
                     key = RegState::pointer(RegType::MapKey),
                     value = RegState::pointer(RegType::MapValue);
            m.map = key.map = value.map = *map;
            frame.regs[1] = m;
            frame.regs[2] = key;
            frame.regs[3] = value;
            frame.regs[4] = caller.regs[3];
        } else {
            frame.regs[1] = RegState::scalar(Scalar::urange(0, progs::kMaxLoops - 1));
            frame.regs[2] = caller.regs[3];
        }
        RegState fp = RegState::pointer(RegType::Stack);
        fp.frameno = static_cast<uint32_t>(path.state.frames.size());
        frame.regs[isa::kFramePointer] = fp;
        m_call_edges.emplace_back(caller.subprog, callback);
        path.state.frames.push_back(frame);
        path.pc = callback;
        return true;
    }

    for (int r = 1; r <= 5; ++r) path.state.reg(r) = RegState{};
    RegState& r0 = path.state.reg(0);
    switch (proto.ret.kind) {
        case progs::RetKind::Integer:
            r0 = RegState::unknown();
            break;
        case progs::RetKind::Void:
            r0 = RegState{};
            break;
        case progs::RetKind::PtrToMapValue:
            if (!map) return error(pc, EINVAL, "map value return without a map argument");
            r0 = RegState::pointer(RegType::MapValue);
            r0.map = *map;
            r0.read_only = (m_in.maps[*map].spec.flags & maps::kRdonlyProg) != 0;
            break;
        case progs::RetKind::PtrToMem:
            r0 = RegState::pointer(RegType::Mem);
            r0.mem_size = alloc_size;
            r0.ringbuf = proto.ret.has(progs::kRetRingbuf);
            break;
    }
    if (r0.is_pointer() && proto.ret.has(progs::kRetMaybeNull)) {
        r0.maybe_null = true;
        r0.id = path.state.fresh_id();
    }
    if (r0.is_pointer() && proto.acquire) {
        r0.ref_obj_id = r0.id ? r0.id : path.state.fresh_id();
        path.state.refs.push_back(Reference{r0.ref_obj_id, pc});
    }
    path.pc = pc + 1;
    return true;
}

Result<bool> Checker::call_local(Path& path, const isa::Insn& insn) {
    const uint32_t pc = path.pc;
    const auto target = static_cast<uint32_t>(static_cast<int64_t>(pc) + 1 + insn.imm);
    if (path.state.frames.size() >= kMaxCallFrames)
        return error(
            pc, EACCES,
            fmt::format("the call stack of {} frames is too deep !", path.state.frames.size() + 1));
    for (const Frame& frame : path.state.frames)
        if (frame.subprog == target)
            return error(pc, EACCES, fmt::format("recursive call from insn {} to {}", pc, target));
    Frame frame;
    frame.callsite = pc;
    frame.subprog = target;
    for (int r = 1; r <= 5; ++r) frame.regs[r] = path.state.top().regs[r];
    RegState fp = RegState::pointer(RegType::Stack);
    fp.frameno = static_cast<uint32_t>(path.state.frames.size());
    frame.regs[isa::kFramePointer] = fp;
    m_call_edges.emplace_back(path.state.top().subprog, target);
    path.state.frames.push_back(frame);
    path.pc = target;
    return true;
}

Result<bool> Checker::exit(Path& path) {
    const uint32_t pc = path.pc;
    CRIB_TRY(check_reg_read(path, 0));
    const RegState r0 = path.state.reg(0);
    Frame& frame = path.state.top();
    if (path.state.frames.size() == 1) {
        if (r0.is_pointer()) return error(pc, EACCES, "R0 leaks addr as return value");
        for (const ReturnRange& range : kReturnRanges)
            if (range.type == m_in.type.type &&
                (r0.value.smin < range.min || r0.value.smax > range.max))
                return error(
                    pc, EACCES,
                    fmt::format(
                        "At program exit the register R0 has {} should have been in [{}, {}]",
                        range_text(r0.value), range.min, range.max));
        if (!path.state.refs.empty()) {
            const Reference& ref = path.state.refs.front();
            std::string what =
                ref.iter.empty() ? std::string() : fmt::format(": iter_{} not destroyed", ref.iter);
            return error(
                pc, EACCES,
                fmt::format("Unreleased reference id={} alloc_insn={}{}", ref.id, ref.insn, what));
        }
        note_stack_depth(path.state);
        CRIB_TRY(check_combined_stack(pc));
        return false;
    }
    if (frame.callback) {
        if (r0.type != RegType::Scalar)
            return error(pc, EACCES,
                         fmt::format("At callback return the register R0 is not a known value ({})",
                                     type_name(r0)));
        if (r0.value.smin < 0 || r0.value.smax > 1)
            return error(
                pc, EACCES,
                fmt::format("At callback return the register R0 has {} should have been in [0, 1]",
                            range_text(r0.value)));
        uint32_t callsite = frame.callsite;
        path.state.frames.pop_back();
        path.pc = callsite;  // the helper may call back again
        path.reentries++;
        return true;
    }
    if (r0.type == RegType::Stack && r0.frameno + 1 == path.state.frames.size())
        return error(pc, EACCES, "cannot return stack pointer to the caller frame");
    uint32_t callsite = frame.callsite;
    path.state.frames.pop_back();
    for (int r = 1; r <= 5; ++r) path.state.reg(r) = RegState{};
    path.state.reg(0) = r0;
    path.pc = callsite + 1;
    return true;
}

}  // namespace crib::verifier
