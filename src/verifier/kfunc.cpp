// Kfunc calls, typed by progs::KfuncProto as the kernel's check_kfunc_call
// types them from BTF: scalar arguments, memory with its size, objects a
// kfunc returned (acquired and released), and open-coded iterators whose
// objects live in stack slots only the iterator's kfuncs may touch.
#include <algorithm>

#include "verifier/checker.hpp"

namespace crib::verifier {
namespace {

using progs::ArgKind;

bool sized_next(const progs::KfuncProto& proto, int arg) {
    if (arg + 1 >= static_cast<int>(proto.args.size())) return false;
    ArgKind next = proto.args[arg + 1].kind;
    return next == ArgKind::ConstSize || next == ArgKind::ConstSizeOrZero;
}

// Which iterator kfunc a call is, by its KF_ITER_* flag.
enum class IterOp : uint8_t { None, New, Next, Destroy };

IterOp iter_op(const progs::Kfunc& kfunc) {
    if (kfunc.flags & progs::kKfIterNew) return IterOp::New;
    if (kfunc.flags & progs::kKfIterNext) return IterOp::Next;
    if (kfunc.flags & progs::kKfIterDestroy) return IterOp::Destroy;
    return IterOp::None;
}

}  // namespace

const progs::Kfunc* Checker::kfunc_at(uint32_t pc) const {
    if (pc >= m_kfunc_names.size() || m_kfunc_names[pc].empty()) return nullptr;
    return progs::find_kfunc(m_in.type.type, m_kfunc_names[pc]);
}

bool Checker::is_iter_next(uint32_t pc) const {
    const progs::Kfunc* kfunc = kfunc_at(pc);
    return kfunc && iter_op(*kfunc) == IterOp::Next;
}

const IterSlot* Checker::iter_of_r1(const State& state) const {
    const RegState& reg = state.top().regs[1];
    if (reg.type != RegType::Stack || !reg.value.is_const() || reg.frameno >= state.frames.size())
        return nullptr;
    int64_t off = reg.off + static_cast<int64_t>(reg.value.const_value());
    if (off < -isa::kStackSize || off >= 0 || off % 8 != 0) return nullptr;
    const Frame& frame = state.frames[reg.frameno];
    auto slot = static_cast<size_t>((off + isa::kStackSize) / 8);
    if (frame.bytes[slot * 8] != StackByte::Iter || frame.iters[slot].first != slot) return nullptr;
    return &frame.iters[slot];
}

// Memory a kfunc reads or writes. With a size argument after it, any
// memory the program may touch of that size (the kernel's `buf, buf__sz`);
// without, an object a kfunc returned, passed whole (its PTR_TO_BTF_ID).
Result<void> Checker::kfunc_mem_arg(Path& path, const progs::Kfunc& kfunc, int arg, bool sized) {
    const uint32_t pc = path.pc;
    const int r = arg + 1;
    const progs::ArgSpec spec = kfunc.proto.args[arg];
    const RegState reg = path.state.reg(r);
    const bool nullable = spec.has(progs::kMaybeNull);
    auto refuse = [&](std::string_view expected) {
        return error(pc, EACCES,
                     fmt::format("R{} type={} expected={} (arg#{} of kernel function {})", r,
                                 type_name(reg), expected, arg, kfunc.name));
    };
    if (!sized) {
        if (nullable && is_null(reg)) return {};
        if (reg.type != RegType::BtfId || !reg.btf || reg.maybe_null)
            return refuse("ptr_ returned by a kernel function");
        if (reg.off != 0 || !reg.value.is_const() || reg.value.const_value() != 0)
            return error(pc, EACCES,
                         fmt::format("R{} must have zero offset when passed to kernel function {}",
                                     r, kfunc.name));
        const btf::TypeId want = kfunc.proto.arg_types[arg];
        if (want && (reg.btf != kfunc.proto.btf.get() ||
                     reg.btf->skip_modifiers(reg.btf_id) != reg.btf->skip_modifiers(want)))
            return error(pc, EACCES,
                         fmt::format("kernel function {} args#{} expected pointer to {} but R{} "
                                     "has a pointer to {}",
                                     kfunc.name, arg, kfunc.proto.btf->describe(want), r,
                                     reg.btf->describe(reg.btf_id)));
        return {};
    }
    Scalar size = CRIB_TRY(check_size_arg(path, r + 1, kfunc.proto.args[arg + 1].kind));
    if (nullable && is_null(reg)) return {};
    const bool writes = !spec.has(progs::kReadOnly);
    switch (reg.type) {
        case RegType::Stack:
        case RegType::MapValue:
        case RegType::Mem:
        case RegType::BtfId:
            if (reg.maybe_null) return refuse("fp, map_value, mem, ringbuf_mem, ptr_");
            break;
        case RegType::MapKey:
            if (!writes) break;
            [[fallthrough]];
        default:
            return refuse(writes ? "fp, map_value, mem, ringbuf_mem, ptr_"
                                 : "fp, map_key, map_value, mem, ringbuf_mem, ptr_");
    }
    if (writes && reg.read_only)
        return error(pc, EACCES,
                     fmt::format("R{} type={} is read-only but kernel function {} writes arg#{}", r,
                                 type_name(reg), kfunc.name, arg));
    // A kfunc that only writes (MEM_UNINIT) may be handed uninitialised
    // stack; one that reads needs every byte written first.
    Access access = !writes                    ? Access::Read
                    : spec.has(progs::kUninit) ? Access::Write
                                               : Access::ReadWrite;
    return check_helper_mem(path, r, size, access, false);
}

// The iterator object: a constant, 8-byte aligned stack offset with
// iter_size bytes of stack from there.
Result<Checker::IterRef> Checker::kfunc_iter_arg(Path& path, const progs::Kfunc& kfunc, int arg) {
    const uint32_t pc = path.pc;
    const int r = arg + 1;
    const progs::KfuncProto& proto = kfunc.proto;
    if (proto.iter.empty() || proto.iter_size == 0 || proto.iter_size % 8 != 0)
        return error(pc, EINVAL,
                     fmt::format("kernel function {}: iterator argument without a name or an "
                                 "8-byte multiple size",
                                 kfunc.name));
    const RegState reg = path.state.reg(r);
    const IterOp op = iter_op(kfunc);
    const std::string init = op == IterOp::New ? "uninitialized" : "an initialized";
    if (reg.type != RegType::Stack || !reg.value.is_const())
        return error(pc, EACCES,
                     fmt::format("R{} type={}: arg#{} of kernel function {} expected pointer to "
                                 "an iterator on stack",
                                 r, type_name(reg), arg, kfunc.name));
    const int64_t off = reg.off + static_cast<int64_t>(reg.value.const_value());
    if (off % 8 != 0 || off < -isa::kStackSize || off + proto.iter_size > 0)
        return error(pc, EACCES,
                     fmt::format("R{} iter_{} at stack off {} size {} is not an aligned stack "
                                 "object",
                                 r, proto.iter, off, proto.iter_size));
    Frame& frame = path.state.frames[reg.frameno];
    const int first = static_cast<int>((off + isa::kStackSize) / 8);
    const int slots = static_cast<int>(proto.iter_size / 8);
    if (op == IterOp::New) {
        for (int s = first; s < first + slots; ++s)
            if (frame.bytes[s * 8] == StackByte::Iter)
                return error(pc, EACCES,
                             fmt::format("R{} expected uninitialized iter_{} as arg #{}: iter_{} "
                                         "is live at stack off {}",
                                         r, proto.iter, arg, frame.iters[s].name, off));
        frame.depth = std::max<uint32_t>(frame.depth, static_cast<uint32_t>(-off));
        note_stack_depth(path.state);
        return IterRef{&frame, first};
    }
    const IterSlot& slot = frame.iters[first];
    if (frame.bytes[first * 8] != StackByte::Iter || slot.first != static_cast<uint32_t>(first) ||
        slot.name != proto.iter)
        return error(pc, EACCES,
                     fmt::format("R{} expected {} iter_{} as arg #{}", r, init, proto.iter, arg));
    return IterRef{&frame, first};
}

Result<bool> Checker::call_kfunc(Path& path, const isa::Insn&) {
    const uint32_t pc = path.pc;
    std::string_view name = pc < m_kfunc_names.size() ? m_kfunc_names[pc] : std::string_view();
    if (name.empty())
        return error(pc, EINVAL, "kernel function call without a name (no extern for this insn)");
    const progs::Kfunc* kfunc = kfunc_at(pc);
    if (!kfunc)
        return error(pc, EACCES, fmt::format("calling kernel function {} is not allowed", name));
    const progs::KfuncProto& proto = kfunc->proto;
    const IterOp op = iter_op(*kfunc);
    std::optional<IterRef> iter;
    int release_reg = 0;

    for (int arg = 0; arg < static_cast<int>(proto.args.size()); ++arg) {
        const progs::ArgSpec& spec = proto.args[arg];
        if (spec.kind == ArgKind::DontCare) break;
        const int r = arg + 1;
        CRIB_TRY(check_reg_read(path, r));
        const RegState& reg = path.state.reg(r);
        switch (spec.kind) {
            case ArgKind::Anything:
                if (reg.type != RegType::Scalar)
                    return error(pc, EACCES,
                                 fmt::format("R{} type={} is not a scalar (arg#{} of kernel "
                                             "function {})",
                                             r, type_name(reg), arg, kfunc->name));
                break;
            case ArgKind::PtrToMem: {
                const bool sized = sized_next(proto, arg);
                if (!release_reg && reg.ref_obj_id) release_reg = r;
                CRIB_TRY(kfunc_mem_arg(path, *kfunc, arg, sized));
                if (sized) ++arg;  // the size argument was checked with it
                break;
            }
            case ArgKind::PtrToCtx:
                if (reg.type != RegType::Ctx || reg.off != 0 || !reg.value.is_const() ||
                    reg.value.const_value() != 0)
                    return error(pc, EACCES,
                                 fmt::format("R{} type={} expected=ctx with zero offset (arg#{} of "
                                             "kernel function {})",
                                             r, type_name(reg), arg, kfunc->name));
                break;
            case ArgKind::PtrToIter:
                if (arg != 0 || op == IterOp::None)
                    return error(pc, EINVAL,
                                 fmt::format("kernel function {}: an iterator must be arg#0 of a "
                                             "KF_ITER_* kfunc",
                                             kfunc->name));
                iter = CRIB_TRY(kfunc_iter_arg(path, *kfunc, arg));
                break;
            default:
                return error(pc, EINVAL,
                             fmt::format("kernel function {} arg#{}: argument kind not supported",
                                         kfunc->name, arg));
        }
    }
    if (op != IterOp::None && !iter)
        return error(pc, EINVAL,
                     fmt::format("kernel function {}: KF_ITER_* kfunc without an iterator arg#0",
                                 kfunc->name));

    if (kfunc->flags & progs::kKfRelease) {
        if (!release_reg)
            return error(pc, EACCES,
                         fmt::format("release kernel function {} expects a referenced pointer "
                                     "argument",
                                     kfunc->name));
        uint32_t ref = path.state.reg(release_reg).ref_obj_id;
        if (std::none_of(path.state.refs.begin(), path.state.refs.end(),
                         [&](const Reference& held) { return held.id == ref; }))
            return error(pc, EACCES,
                         fmt::format("R{} reference id={} was already released", release_reg, ref));
        release_reference(path.state, ref);
    }

    // The iterator's life: _new makes its slots a live iterator holding a
    // reference, _destroy ends both.
    if (iter && op == IterOp::New) {
        Frame& frame = *iter->frame;
        const uint32_t id = path.state.fresh_id();
        const int slots = static_cast<int>(proto.iter_size / 8);
        for (int s = iter->slot; s < iter->slot + slots; ++s) {
            std::fill_n(frame.bytes.begin() + s * 8, 8, StackByte::Iter);
            frame.spills[s] = RegState{};
            frame.iters[s] = IterSlot{proto.iter, id, static_cast<uint32_t>(iter->slot), false, 0};
        }
        path.state.refs.push_back(Reference{id, pc, proto.iter});
    } else if (iter && op == IterOp::Destroy) {
        Frame& frame = *iter->frame;
        const uint32_t id = frame.iters[iter->slot].ref_obj_id;
        const int slots = static_cast<int>(proto.iter_size / 8);
        for (int s = iter->slot; s < iter->slot + slots; ++s) {
            std::fill_n(frame.bytes.begin() + s * 8, 8, StackByte::Invalid);
            frame.iters[s] = IterSlot{};
        }
        std::erase_if(path.state.refs, [&](const Reference& held) { return held.id == id; });
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
        case progs::RetKind::PtrToMem:
            if (proto.ret_type) {
                r0 = RegState::pointer(RegType::BtfId);
                r0.btf = proto.btf.get();
                r0.btf_id = proto.ret_type;
                r0.read_only = !proto.ret_writable;
                break;
            }
            if (proto.ret_size == 0)
                return error(
                    pc, EINVAL,
                    fmt::format("kernel function {} returns memory of no size", kfunc->name));
            r0 = RegState::pointer(RegType::Mem);
            r0.mem_size = proto.ret_size;
            r0.read_only = true;
            break;
        default:
            return error(pc, EINVAL,
                         fmt::format("kernel function {}: return kind not supported", kfunc->name));
    }
    path.pc = pc + 1;
    const bool maybe_null = r0.is_pointer() && (proto.ret.has(progs::kRetMaybeNull) ||
                                                (kfunc->flags & progs::kKfRetNull));

    // _next: NULL ends the loop and leaves the iterator drained; otherwise
    // the element is there. Splitting here, as the kernel's
    // process_iter_next_call does, lets the loop head be compared without
    // the iteration count.
    if (iter && op == IterOp::Next && maybe_null) {
        Frame& frame = *iter->frame;
        const int slots = static_cast<int>(proto.iter_size / 8);
        Path drained = path;
        drained.state.reg(0) = RegState::scalar(Scalar::constant(0));
        Frame& drained_frame = drained.state.frames[&frame - path.state.frames.data()];
        for (int s = iter->slot; s < iter->slot + slots; ++s) drained_frame.iters[s].drained = true;
        if (frame.iters[iter->slot].drained) {
            path = std::move(drained);
            return true;
        }
        push(std::move(drained));
        for (int s = iter->slot; s < iter->slot + slots; ++s) frame.iters[s].depth++;
        return true;
    }
    if (maybe_null) {
        r0.maybe_null = true;
        r0.id = path.state.fresh_id();
    }
    if (r0.is_pointer() && (kfunc->flags & progs::kKfAcquire)) {
        r0.ref_obj_id = r0.id ? r0.id : path.state.fresh_id();
        path.state.refs.push_back(Reference{r0.ref_obj_id, pc});
    }
    return true;
}

}  // namespace crib::verifier
