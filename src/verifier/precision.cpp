// Precision tracking, after the kernel's mark_chain_precision: a scalar is
// imprecise until a check relies on its value (a dead branch, a pointer
// offset, a helper argument, a return value); then it, and every register
// or stack slot it was computed from, is marked precise in each explored
// state up the path. Pruning compares only precise scalars, so values no
// check looks at (a counter returned nowhere, a flag) stop splitting states.
//
// Why this is sound: a node is pruned against only when every path below it
// has ended, so its marks are final; a path pruned against it carries its
// marks back up its own ancestry (backtrack), so the ancestors know the
// pruned continuation relied on those values too. Backtracking
// over-approximates where it cannot tell (a variable stack offset marks
// every slot it may reach, partial stores keep the slot), which costs
// prunes, never safety.
//
// Each path keeps the insns it ran since its last explored node (a Step
// each), and each node those that led to it from its parent, so marks go
// back over exactly the insns that ran.
#include <algorithm>

#include "verifier/checker.hpp"

namespace crib::verifier {
namespace {

RegMask bit(int r) {
    return static_cast<RegMask>(1u << r);
}
constexpr RegMask kCallDefs = 0x3f;  // r0..r5

uint64_t slot_bits(const Step& step) {
    uint64_t bits = 0;
    for (int s = step.first; s <= step.last; ++s) bits |= uint64_t{1} << s;
    return bits;
}

// The precise sets of the frames before one insn, from those after it
// (the kernel's backtrack_insn), for an insn that stays in its frame.
void backtrack_insn(const isa::Insn& insn, const Step& step, Precision& set) {
    const size_t f = step.frame;
    const Step* access = step.flags & Step::kStack ? &step : nullptr;
    const isa::OpInfo& row = insn.info();
    RegMask& regs = set[f].regs;
    const RegMask dst = bit(insn.dst), src = bit(insn.src);
    using enum isa::Operation;
    switch (row.kind) {
        case isa::Kind::Alu:
            if (!(regs & dst)) return;
            if (row.operation == Mov || row.operation == Movsx) regs &= static_cast<RegMask>(~dst);
            if (row.source_is_reg()) regs |= src;
            return;
        case isa::Kind::Endian:
        case isa::Kind::LddwTail:
            return;
        case isa::Kind::Lddw:
            regs &= static_cast<RegMask>(~dst);
            return;
        case isa::Kind::Jump:
            // dst op src: each side's refined range came from the other.
            if (row.operation != Ja && row.source_is_reg() && (regs & (dst | src)))
                regs |= dst | src;
            return;
        case isa::Kind::Load:
            if (!(regs & dst)) return;
            regs &= static_cast<RegMask>(~dst);
            if (access) set[access->stack_frame].slots |= slot_bits(*access);
            return;
        case isa::Kind::Store: {
            if (!access) return;
            uint64_t& slots = set[access->stack_frame].slots;
            const uint64_t touched = slot_bits(*access);
            if (!(slots & touched)) return;
            // Only a whole-slot store at a known offset replaces what the
            // slot held; any other keeps part of the old bytes.
            if ((access->flags & Step::kExact) && row.size == 8 && access->first == access->last)
                slots &= ~touched;
            if (row.operation == StoreReg) regs |= src;
            return;
        }
        case isa::Kind::Atomic: {
            const bool cmpxchg = row.operation == Cmpxchg;
            const bool fetch = cmpxchg || row.operation == Xchg || row.operation >= FetchAdd;
            const RegMask written = cmpxchg ? bit(0) : fetch ? src : 0;
            if (!access) {
                // A fetch from other memory: the old value is not tracked.
                regs &= static_cast<RegMask>(~written);
                return;
            }
            uint64_t& slots = set[access->stack_frame].slots;
            if (!(slots & slot_bits(*access)) && !(regs & written)) return;
            slots |= slot_bits(*access);
            regs |= src | (cmpxchg ? bit(0) : 0);
            return;
        }
        case isa::Kind::Call:
            // Helpers and kfuncs give fresh values; the arguments a check
            // read were marked precise at the call itself.
            regs &= static_cast<RegMask>(~kCallDefs);
            return;
        case isa::Kind::Exit:
            return;
    }
}

}  // namespace

Precision Checker::all_precise() {
    Precision all;
    for (FramePrecision& frame : all) frame = FramePrecision{0x3ff, ~uint64_t{0}};
    return all;
}

void Checker::note_step(Path& path) {
    const isa::Insn& insn = m_in.insns[path.pc];
    const Frame& top = path.state.top();
    Step step{path.pc, static_cast<uint8_t>(path.state.frames.size() - 1),
              static_cast<uint8_t>(top.callback ? Step::kCallback : 0)};
    const isa::Kind kind = insn.info().kind;
    if (kind == isa::Kind::Load || kind == isa::Kind::Store || kind == isa::Kind::Atomic) {
        const RegState& base = top.regs[kind == isa::Kind::Load ? insn.src : insn.dst];
        // Any variable part wider than this lands out of the frame (and
        // would overflow the sums below): the access fails, no value flows.
        constexpr int64_t kFarOutside = int64_t{1} << 32;
        const bool near = base.type == RegType::Stack && base.value.smin > -kFarOutside &&
                          base.value.smax < kFarOutside;
        const int64_t at = int64_t{isa::kStackSize} + base.off + insn.off;
        const int64_t lo = near ? at + base.value.smin : -1;
        const int64_t hi = near ? at + base.value.smax + insn.info().size - 1 : -1;
        if (near && lo >= 0 && hi < isa::kStackSize && lo <= hi) {
            step.flags |= Step::kStack | (base.value.is_const() ? Step::kExact : 0);
            step.stack_frame = static_cast<uint8_t>(base.frameno);
            step.first = static_cast<uint8_t>(lo / 8);
            step.last = static_cast<uint8_t>(hi / 8);
        }
    }
    path.trail.push_back(step);
}

void Checker::mark_precise(Path& path, RegMask regs) {
    // Pointers are always compared whole; only scalars can be imprecise.
    for (int r = 0; r < isa::kFramePointer; ++r)
        if (path.state.reg(r).type != RegType::Scalar) regs &= static_cast<RegMask>(~bit(r));
    if (!regs) return;
    Precision set{};
    set[path.state.frames.size() - 1].regs = regs;
    // The check's own insn, last on the trail, has not run yet.
    Step current = path.trail.back();
    path.trail.pop_back();
    backtrack(path, set);
    path.trail.push_back(current);
}

// The exit rules may check the return value's range (by program type, and
// for callbacks). They rely on r0's value exactly when they would refuse an
// unknown scalar in its place: asking them so keeps one copy of the rules.
void Checker::mark_return_precise(Path& path) {
    if (path.state.reg(0).type != RegType::Scalar) return;
    Path probe{path.state, path.pc};
    probe.state.reg(0) = RegState::unknown();
    const size_t log_size = m_log.size();
    const bool refused = !exit(probe).ok();
    m_log.resize(log_size);  // the probe's refusal is no message of this run
    if (refused) mark_precise(path, 1);
}

void Checker::backtrack(Path& path, const Precision& precise) {
    // Back over `trail`, which ended in a state of `frames` frames.
    auto over_trail = [&](Precision& set, const std::vector<Step>& trail, size_t frames) {
        size_t after = frames - 1;  // the frame running after the step
        for (size_t i = trail.size(); i-- > 0;) {
            const Step& step = trail[i];
            const size_t f = step.frame;
            if (after == f + 1) {
                // Into a callee: its arguments came from the caller's r1..r5
                // for a bpf-to-bpf call; a callback's were checked at the call.
                if (m_in.insns[step.pc].info().operation == isa::Operation::Local)
                    set[f].regs |= set[after].regs & 0x3e;
                set[after] = {};
            } else if (after + 1 == f) {
                // Out of a callee: the caller's r0 is its r0, r1..r5 were
                // clobbered; a callback's return goes nowhere (checked at
                // its exit) and the caller's registers are as they were.
                const bool r0 = set[after].regs & 1;
                const bool callback = step.flags & Step::kCallback;
                if (!callback) set[after].regs &= static_cast<RegMask>(~kCallDefs);
                set[f] = {};
                if (!callback && r0) set[f].regs = 1;
            } else {
                backtrack_insn(m_in.insns[step.pc], step, set);
            }
            after = f;
        }
    };

    if (path.parent < 0) return;
    Precision set = precise;
    over_trail(set, path.trail, path.state.frames.size());
    for (int n = path.parent; n >= 0;) {
        Node& node = m_nodes[n];
        bool news = false;
        for (size_t f = 0; f < node.state.frames.size(); ++f) {
            set[f].regs &= 0x3ff;
            if (!node.precise[f].covers(set[f])) news = true;
            node.precise[f].regs |= set[f].regs;
            node.precise[f].slots |= set[f].slots;
        }
        // Marks already here went up the rest of the path when they were made.
        if (!news || node.parent < 0) return;
        over_trail(set, node.trail, node.state.frames.size());
        n = node.parent;
    }
}

}  // namespace crib::verifier
