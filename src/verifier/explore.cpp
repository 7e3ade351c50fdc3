// Path exploration: depth-first over a stack of pending paths, with the
// kernel's pruning. At prune points a path's state is compared with states
// already explored there; a state whose every continuation was proven safe
// and which subsumes the new one ends the new path. A state still being
// explored that equals the new one means the code can loop forever.
#include <algorithm>
#include <cstring>
#include <optional>
#include <unordered_map>

#include "verifier/checker.hpp"

namespace crib::verifier {

Checker::Checker(const VerifyInput& input, const VerifyOptions& options)
    : m_in(input), m_opt(options) {}

// Misses a state may take (plus hits times as many) before it is dropped
// from its insn's list: few for one still being explored, which past loop
// iterations keep missing, more for an explored one, which later paths
// may still meet (the kernel's miss_cnt heuristic, tuned on the bench).
constexpr uint32_t kTriesExploring = 3, kLoopAllowance = 8;
constexpr uint32_t kTriesExplored = 16;

void Checker::push(Path path) {
    if (path.parent >= 0) m_nodes[path.parent].branches++;
    m_stack.push_back(std::move(path));
}

namespace {

// The kernel's idmap: ids in the old state must map one-to-one onto ids in
// the new one, so "these two pointers are the same object" still holds.
class IdMap {
public:
    bool check(uint32_t old_id, uint32_t cur_id) {
        if (old_id == 0 && cur_id == 0) return true;
        if (old_id == 0 || cur_id == 0) return false;
        auto [it, added] = m_forward.emplace(old_id, cur_id);
        if (!added) return it->second == cur_id;
        auto [back, back_added] = m_backward.emplace(cur_id, old_id);
        return back_added || back->second == old_id;
    }

private:
    // Few ids live at once: a flat list beats a hash map here.
    struct Pairs {
        std::vector<std::pair<uint32_t, uint32_t>> items;
        std::pair<std::pair<uint32_t, uint32_t>*, bool> emplace(uint32_t key, uint32_t value) {
            for (auto& item : items)
                if (item.first == key) return {&item, false};
            items.emplace_back(key, value);
            return {&items.back(), true};
        }
    };
    Pairs m_forward, m_backward;
};

bool reg_subsumes(const RegState& old, const RegState& cur, bool precise, bool exact, IdMap& ids) {
    if (exact) {
        if (old.type != cur.type) return false;
    } else if (old.type == RegType::NotInit) {
        return true;  // the old path never read it, or it failed
    }
    if (old.type != cur.type) return false;
    switch (old.type) {
        case RegType::NotInit:
            return true;
        case RegType::Scalar:
            if (exact) return old.value == cur.value;
            return !precise || old.value.includes(cur.value);
        default:
            break;
    }
    if (!same_referent(old, cur)) return false;
    // A packet pointer proven valid further covers one proven less far.
    if (exact ? old.range != cur.range : old.range > cur.range) return false;
    if (exact ? !(old.value == cur.value) : !old.value.includes(cur.value)) return false;
    return ids.check(old.id, cur.id) && ids.check(old.ref_obj_id, cur.ref_obj_id);
}

}  // namespace

bool Checker::subsumes(const State& old, const State& cur, uint32_t pc, bool exact,
                       const Precision* precise) const {
    if (old.frames.size() != cur.frames.size() || old.refs.size() != cur.refs.size()) return false;
    IdMap ids;
    for (size_t f = 0; f < old.frames.size(); ++f) {
        const Frame& a = old.frames[f];
        const Frame& b = cur.frames[f];
        if (a.callsite != b.callsite || a.subprog != b.subprog || a.callback != b.callback)
            return false;
        bool top = f + 1 == old.frames.size();
        for (int r = 0; r < isa::kFramePointer; ++r) {
            bool live = !top || (m_live[pc] >> r & 1);
            if (!live) continue;
            bool reg_precise = !precise || ((*precise)[f].regs >> r & 1);
            if (!reg_subsumes(a.regs[r], b.regs[r], reg_precise, exact, ids)) return false;
        }
    }
    for (size_t f = 0; f < old.frames.size(); ++f) {
        const Frame& a = old.frames[f];
        const Frame& b = cur.frames[f];
        // Bytes below the old frame's deepest access were never written there.
        int first =
            isa::kStackSize - static_cast<int>(std::min<uint32_t>(
                                  exact ? std::max(a.depth, b.depth) : a.depth, isa::kStackSize));
        const uint64_t slots = precise ? (*precise)[f].slots : ~uint64_t{0};
        for (int i = first & ~7; i < isa::kStackSize; ++i) {
            // Most slots hold the same plain bytes in both: equal, whatever the rules.
            if (i % 8 == 0) {
                const StackByte* x8 = &a.bytes[i];
                if (std::memcmp(x8, &b.bytes[i], 8) == 0 &&
                    std::none_of(x8, x8 + 8, [](StackByte v) {
                        return v == StackByte::Spill || v == StackByte::Iter;
                    })) {
                    i += 7;
                    continue;
                }
            }
            StackByte x = a.bytes[i], y = b.bytes[i];
            const bool slot_precise = slots >> (i / 8) & 1;
            // Bytes holding a scalar no check relied on stand for any scalar bytes.
            if (!exact && !slot_precise &&
                (x == StackByte::Zero ||
                 (x == StackByte::Spill && a.spills[i / 8].type == RegType::Scalar)))
                x = StackByte::Misc;
            if (x == StackByte::Iter || y == StackByte::Iter) {
                if (x != y) return false;
                const IterSlot &p = a.iters[i / 8], &q = b.iters[i / 8];
                if (i % 8 == 0 &&
                    (p.name != q.name || p.first != q.first || p.drained != q.drained ||
                     (exact && p.depth != q.depth) || !ids.check(p.ref_obj_id, q.ref_obj_id)))
                    return false;
                continue;
            }
            if (exact) {
                if (x != y) return false;
                if (x == StackByte::Spill && i % 8 == 0 &&
                    !reg_subsumes(a.spills[i / 8], b.spills[i / 8], true, true, ids))
                    return false;
                continue;
            }
            if (x == StackByte::Invalid) continue;
            if (x == StackByte::Misc) {
                if (y == StackByte::Misc || y == StackByte::Zero) continue;
                if (y == StackByte::Spill && b.spills[i / 8].type == RegType::Scalar) continue;
                return false;
            }
            if (x != y) return false;
            if (x == StackByte::Spill && i % 8 == 0 &&
                !reg_subsumes(a.spills[i / 8], b.spills[i / 8], slot_precise, exact, ids))
                return false;
        }
    }
    for (size_t i = 0; i < old.refs.size(); ++i)
        if (!ids.check(old.refs[i].id, cur.refs[i].id)) return false;
    return true;
}

const Node* Checker::iter_loop_head(const Path& path) const {
    const IterSlot* cur = iter_of_r1(path.state);
    if (!cur || cur->drained) return nullptr;
    for (int n = path.parent; n >= 0; n = m_nodes[n].parent) {
        const Node& node = m_nodes[n];
        if (node.pc != path.pc) continue;
        const IterSlot* old = iter_of_r1(node.state);
        // The same instance (one path, one id), so between the two visits
        // this iterator gave out at least one element: it cannot do that
        // forever, which is what ends the loop.
        if (old && !old->drained && old->ref_obj_id == cur->ref_obj_id) return &node;
    }
    return nullptr;
}

void Checker::widen(const State& old, State& cur) const {
    if (old.frames.size() != cur.frames.size()) return;
    auto widen_reg = [](const RegState& a, RegState& b) {
        if (a.type != b.type || a.value == b.value) return;
        if (a.type == RegType::Scalar || (a.is_pointer() && a.off == b.off))
            b.value = scalar_widen(a.value, b.value);
    };
    for (size_t f = 0; f < old.frames.size(); ++f) {
        const Frame& a = old.frames[f];
        Frame& b = cur.frames[f];
        for (int r = 0; r < isa::kFramePointer; ++r) widen_reg(a.regs[r], b.regs[r]);
        for (int slot = 0; slot < kStackSlots; ++slot) {
            const int first = slot * 8;
            if (a.bytes[first] == StackByte::Spill && b.bytes[first] == StackByte::Spill)
                widen_reg(a.spills[slot], b.spills[slot]);
            for (int i = first; i < first + 8; ++i)
                if (a.bytes[i] == StackByte::Misc && b.bytes[i] == StackByte::Zero)
                    b.bytes[i] = StackByte::Misc;
        }
    }
}

Result<VerifyResult> Checker::run() {
    CRIB_TRY(check_cfg());
    compute_liveness();
    m_explored.assign(m_in.insns.size(), {});
    m_subprog_depth.assign(m_in.insns.size(), 0);

    Path start;
    Frame frame;
    frame.regs[1] = RegState::pointer(RegType::Ctx);
    frame.regs[isa::kFramePointer] = RegState::pointer(RegType::Stack);
    start.state.frames.push_back(frame);
    push(std::move(start));

    // A path that ends (exit, dead branch, pruned) lets its ancestors know;
    // a node whose paths have all ended is safe to prune against.
    // A state out of its insn's list whose paths have all ended is never
    // looked at again (backtracking and loop heads walk the ancestors of
    // running paths only): its copy of the state goes.
    auto drop = [](Node& node) {
        node.state = State{};
        std::vector<Step>().swap(node.trail);
    };
    auto finish = [&](int node) {
        while (node >= 0 && --m_nodes[node].branches == 0) {
            if (!m_nodes[node].listed) drop(m_nodes[node]);
            node = m_nodes[node].parent;
        }
    };

    while (!m_stack.empty()) {
        Path path = std::move(m_stack.back());
        m_stack.pop_back();
        bool alive = true;
        while (alive) {
            uint32_t pc = path.pc;
            m_pc = pc;
            if (m_prune_point[pc]) {
                bool pruned = false;
                auto& explored = m_explored[pc];
                // An iterator loop back at its _next with a state the loop's
                // earlier visit covers repeats what is being explored there.
                const Node* loop_head = is_iter_next(pc) ? iter_loop_head(path) : nullptr;
                // The loop head is still being explored, its marks are not
                // final: compare every scalar, and the path relies on all.
                if (loop_head && subsumes(loop_head->state, path.state, pc, false, nullptr)) {
                    backtrack(path, all_precise());
                    if (m_opt.log_all) log_line(fmt::format("{}: safe (iterator loop)", pc));
                    break;
                }
                if (loop_head) widen(loop_head->state, path.state);
                for (size_t k = 0; k < explored.size(); ++k) {
                    Node& node = m_nodes[explored[k]];
                    if (node.branches == 0 &&
                        subsumes(node.state, path.state, pc, false, &node.precise)) {
                        node.hits++;
                        backtrack(path, node.precise);
                        pruned = true;
                        break;
                    }
                    if (node.branches > 0 && subsumes(node.state, path.state, pc, true, nullptr)) {
                        // Back to an equal state through a callback's return
                        // to its helper: the helper bounds those runs.
                        if (node.reentries != path.reentries) {
                            backtrack(path, all_precise());
                            pruned = true;
                            break;
                        }
                        return error(pc, EINVAL,
                                     fmt::format("infinite loop detected at insn {}", pc));
                    }
                    // A state that keeps missing (a loop counting up) costs more
                    // to compare than it saves. Dropping it loses no safety,
                    // only prunes: the budget still ends a loop that never
                    // repeats a state.
                    const bool exploring = node.branches > 0;
                    const uint32_t tries = exploring ? kTriesExploring : kTriesExplored;
                    if (++node.misses >
                        node.hits * tries + tries + (exploring ? kLoopAllowance : 0)) {
                        node.listed = false;
                        if (!exploring) drop(node);
                        explored[k] = explored.back();
                        explored.pop_back();
                        --k;
                    }
                }
                if (pruned) {
                    if (m_opt.log_all) log_line(fmt::format("{}: safe", pc));
                    break;
                }
                m_nodes.push_back(Node{path.state, pc, path.parent, 1, path.reentries, 0, 0,
                                       std::move(path.trail)});
                path.trail.clear();
                path.parent = static_cast<int>(m_nodes.size() - 1);
                m_explored[pc].push_back(path.parent);
            }
            if (++m_processed > m_opt.insn_budget)
                return error(pc, E2BIG,
                             fmt::format("BPF program is too large. Processed {} insn: the "
                                         "budget of {} insns is exhausted",
                                         m_processed, m_opt.insn_budget));
            note_step(path);
            std::optional<State> before;
            if (m_opt.log_all) before = path.state;
            auto next = step(path);
            if (!next) {
                Error failure = std::move(next).error();
                log_line(describe_regs(path.state));
                return failure;
            }
            alive = *next;
            if (before) log_line(walk_line(pc, *before, path.state, alive));
        }
        finish(path.parent);
    }

    VerifyResult result;
    result.max_ctx_offset = m_max_ctx_offset;
    result.insns_processed = m_processed;
    result.states = static_cast<uint32_t>(m_nodes.size());
    result.stack_depth = m_stack_depth;
    if (m_opt.log_all || m_opt.log)
        log_line(fmt::format("processed {} insns, {} states, stack depth {}", m_processed,
                             m_nodes.size(), m_stack_depth));
    result.log = std::move(m_log);
    return result;
}

Result<VerifyResult> verify(const VerifyInput& input, const VerifyOptions& options) {
    Checker checker(input, options);
    return checker.run();
}

}  // namespace crib::verifier
