// The shape of the code, checked before any path is walked (the kernel's
// check_subprogs and check_cfg), and a static backward liveness analysis:
// registers not read before written at an insn do not matter to pruning
// there (what the values of the live ones matter to: precision.cpp).
#include <algorithm>

#include "verifier/checker.hpp"

namespace crib::verifier {
namespace {

RegMask bit(int r) {
    return static_cast<RegMask>(1u << r);
}
constexpr RegMask kArgs = 0x3e;      // r1..r5
constexpr RegMask kCallDefs = 0x3f;  // r0..r5

// Jump target of a jump or local call at pc.
int64_t target_of(const isa::Insn& insn, uint32_t pc) {
    bool uses_imm = insn.info().kind == isa::Kind::Call || insn.info().kind == isa::Kind::Lddw ||
                    (insn.info().operation == isa::Operation::Ja && insn.info().width == 32);
    return static_cast<int64_t>(pc) + 1 + (uses_imm ? insn.imm : insn.off);
}

}  // namespace

uint32_t subprog_of(const std::vector<uint32_t>& starts, uint32_t pc) {
    auto it = std::upper_bound(starts.begin(), starts.end(), pc);
    return *(it - 1);
}

// Registers a call reads: its prototype's arguments for helpers and
// kfuncs (so pruning ignores what is left in the others), r1..r5 otherwise.
RegMask Checker::call_args(uint32_t pc) const {
    const isa::Insn& insn = m_in.insns[pc];
    auto mask_of = [](std::span<const progs::ArgSpec> args) {
        RegMask mask = 0;
        for (size_t i = 0; i < args.size() && args[i].kind != progs::ArgKind::DontCare; ++i)
            mask |= bit(static_cast<int>(i) + 1);
        return mask;
    };
    if (insn.info().operation == isa::Operation::Helper) {
        const progs::HelperInfo* helper =
            m_in.type.get_func_proto ? m_in.type.get_func_proto(insn.imm) : nullptr;
        if (helper) return mask_of(helper->proto.args);
    } else if (insn.info().operation == isa::Operation::Kfunc) {
        if (const progs::Kfunc* kfunc = kfunc_at(pc)) return mask_of(kfunc->proto.args);
    }
    return kArgs;
}

bool Checker::is_subprog_start(uint32_t pc) const {
    return std::binary_search(m_subprogs.begin(), m_subprogs.end(), pc);
}

Result<void> Checker::check_cfg() {
    const auto& code = m_in.insns;
    const auto n = static_cast<int64_t>(code.size());
    if (n == 0) return error(0, EINVAL, "no instructions");
    m_kfunc_names.assign(code.size(), {});
    if (m_in.source)
        for (const object::ExternRef& ref : m_in.source->externs)
            if (ref.kind == object::ExternKind::Kfunc && ref.insn < code.size())
                m_kfunc_names[ref.insn] = ref.name;
    m_subprogs = {0};
    for (uint32_t pc = 0; pc < n; ++pc) {
        const isa::Insn& insn = code[pc];
        auto operation = insn.info().operation;
        if (insn.info().kind == isa::Kind::LddwTail &&
            (pc == 0 || code[pc - 1].info().kind != isa::Kind::Lddw))
            return error(pc, EINVAL, "invalid BPF_LD_IMM insn");
        if (insn.info().kind == isa::Kind::Lddw &&
            (pc + 1 >= n || code[pc + 1].info().kind != isa::Kind::LddwTail))
            return error(pc, EINVAL, "invalid BPF_LD_IMM insn");
        if (operation == isa::Operation::Local || operation == isa::Operation::Func) {
            int64_t target = target_of(insn, pc);
            if (target < 0 || target >= n) return error(pc, EINVAL, "call to invalid destination");
            m_subprogs.push_back(static_cast<uint32_t>(target));
        }
    }
    std::sort(m_subprogs.begin(), m_subprogs.end());
    m_subprogs.erase(std::unique(m_subprogs.begin(), m_subprogs.end()), m_subprogs.end());

    m_prune_point.assign(code.size(), false);
    for (uint32_t start : m_subprogs) m_prune_point[start] = true;
    for (uint32_t pc = 0; pc < n; ++pc) {
        const isa::Insn& insn = code[pc];
        if (insn.info().kind == isa::Kind::Call) {
            m_prune_point[pc] = true;  // callbacks come back here
            if (pc + 1 < n) m_prune_point[pc + 1] = true;
        }
        if (insn.info().kind != isa::Kind::Jump) continue;
        int64_t target = target_of(insn, pc);
        uint32_t sub = subprog_of(m_subprogs, pc);
        if (target < 0 || target >= n ||
            subprog_of(m_subprogs, static_cast<uint32_t>(target)) != sub)
            return error(pc, EINVAL,
                         fmt::format("jump out of range from insn {} to {}", pc, target));
        if (code[target].info().kind == isa::Kind::LddwTail)
            return error(pc, EINVAL,
                         fmt::format("jump into the middle of ldimm64 insn {}", target - 1));
        m_prune_point[target] = true;
        if (insn.info().operation != isa::Operation::Ja && pc + 1 < n) m_prune_point[pc + 1] = true;
    }
    // Each function must end in exit or a jump: falling off its end would
    // run into the next function (or off the program).
    for (size_t i = 0; i < m_subprogs.size(); ++i) {
        int64_t last = (i + 1 < m_subprogs.size() ? m_subprogs[i + 1] : n) - 1;
        auto kind = code[last].info().kind;
        auto op = code[last].info().operation;
        if (kind != isa::Kind::Exit && !(kind == isa::Kind::Jump && op == isa::Operation::Ja))
            return error(static_cast<uint32_t>(last), EINVAL, "last insn is not an exit or jmp");
    }
    // Every insn must be reachable from its function's entry.
    std::vector<bool> seen(code.size(), false);
    std::vector<uint32_t> work(m_subprogs.begin(), m_subprogs.end());
    while (!work.empty()) {
        uint32_t pc = work.back();
        work.pop_back();
        if (pc >= n || seen[pc]) continue;
        seen[pc] = true;
        const isa::Insn& insn = code[pc];
        switch (insn.info().kind) {
            case isa::Kind::Exit:
                break;
            case isa::Kind::Jump:
                work.push_back(static_cast<uint32_t>(target_of(insn, pc)));
                if (insn.info().operation != isa::Operation::Ja) work.push_back(pc + 1);
                break;
            case isa::Kind::Lddw:
                seen[pc + 1] = true;
                work.push_back(pc + 2);
                break;
            default:
                work.push_back(pc + 1);
        }
    }
    for (uint32_t pc = 0; pc < n; ++pc)
        if (!seen[pc]) return error(pc, EINVAL, fmt::format("unreachable insn {}", pc));
    return {};
}

void Checker::compute_liveness() {
    const auto& code = m_in.insns;
    const size_t n = code.size();
    m_live.assign(n, 0);
    bool changed = true;
    while (changed) {
        changed = false;
        for (size_t i = n; i-- > 0;) {
            const isa::Insn& insn = code[i];
            const isa::OpInfo& row = insn.info();
            RegMask live = 0;
            auto succ = [&](int64_t s) {
                if (s >= 0 && static_cast<size_t>(s) < n) live |= m_live[s];
            };
            const RegMask dst = bit(insn.dst), src = bit(insn.src);
            switch (row.kind) {
                case isa::Kind::Exit:
                    live = bit(0);
                    break;
                case isa::Kind::Jump:
                    succ(target_of(insn, static_cast<uint32_t>(i)));
                    if (row.operation != isa::Operation::Ja) {
                        succ(static_cast<int64_t>(i) + 1);
                        live |= dst | (row.source_is_reg() ? src : 0);
                    }
                    break;
                case isa::Kind::Call:
                    succ(static_cast<int64_t>(i) + 1);
                    live = static_cast<RegMask>((live & ~kCallDefs) |
                                                call_args(static_cast<uint32_t>(i)));
                    if (row.operation == isa::Operation::Indirect) live |= dst;
                    break;
                case isa::Kind::Lddw:
                    succ(static_cast<int64_t>(i) + 2);
                    live &= static_cast<RegMask>(~dst);
                    break;
                case isa::Kind::LddwTail:
                    break;
                case isa::Kind::Load:
                    succ(static_cast<int64_t>(i) + 1);
                    live = static_cast<RegMask>((live & ~dst) | src);
                    break;
                case isa::Kind::Store:
                    succ(static_cast<int64_t>(i) + 1);
                    live |= dst | (row.operation == isa::Operation::StoreReg ? src : 0);
                    break;
                case isa::Kind::Atomic:
                    succ(static_cast<int64_t>(i) + 1);
                    live |= dst | src;
                    if (row.operation == isa::Operation::Cmpxchg) live |= bit(0);
                    break;
                case isa::Kind::Endian:
                    succ(static_cast<int64_t>(i) + 1);
                    live |= dst;
                    break;
                case isa::Kind::Alu: {
                    succ(static_cast<int64_t>(i) + 1);
                    bool mov = row.operation == isa::Operation::Mov ||
                               row.operation == isa::Operation::Movsx;
                    if (mov)
                        live &= static_cast<RegMask>(~dst);
                    else
                        live |= dst;
                    if (row.source_is_reg()) live |= src;
                    break;
                }
            }
            live &= 0x3ff;  // r10 is never a question
            if (live != m_live[i]) {
                m_live[i] = live;
                changed = true;
            }
        }
    }
}

}  // namespace crib::verifier
