#include "exec/structure.hpp"

#include <algorithm>
#include <map>

#include "exec/program.hpp"

namespace crib::exec {
namespace {

using isa::Insn;
using isa::Kind;
using isa::Op;

Error at(size_t pc, Error error) {
    return std::move(error.at_insn(static_cast<int64_t>(pc)));
}

bool is_unconditional_end(Op op) {
    return op == Op::exit || op == Op::ja || op == Op::ja32;
}

// What check_slots learns on the way to the Structure.
struct Layout {
    Structure structure;
    std::vector<bool> is_tail;  // second slot of an lddw
};

Result<Layout> check_slots(std::span<const Insn> code) {
    const size_t n = code.size();
    Layout layout;
    layout.is_tail.assign(n, false);
    std::map<uint32_t, size_t> starts{{0, 0}};  // start -> first insn calling it
    for (size_t pc = 0; pc < n; ++pc) {
        const Insn& insn = code[pc];
        if (insn.dst >= isa::kRegisterCount || insn.src >= isa::kRegisterCount)
            return at(pc, make_error(EINVAL, "{}: invalid register r{}", insn.info().name,
                                     std::max(insn.dst, insn.src)));
        if (insn.info().kind == Kind::LddwTail)
            return at(pc, make_error(EINVAL, "lddw_tail without an lddw before it"));
        if (insn.info().kind == Kind::Lddw) {
            if (pc + 1 >= n || code[pc + 1].op != Op::lddw_tail)
                return at(pc, make_error(EINVAL, "{}: lddw is missing its second slot",
                                         insn.info().name));
            layout.is_tail[pc + 1] = true;
        }
        if (insn.op == Op::call_local || insn.op == Op::lddw_func) {
            int64_t target = *target_of(insn, pc);
            if (target < 0 || target >= static_cast<int64_t>(n))
                return at(pc, make_error(EINVAL, "{}: call to invalid destination {}",
                                         insn.info().name, target));
            starts.emplace(static_cast<uint32_t>(target), pc);
        }
        if (insn.info().kind == Kind::Lddw) ++pc;
    }
    Structure& structure = layout.structure;
    for (const auto& [start, caller] : starts)
        if (layout.is_tail[start])
            return at(caller, make_error(EINVAL, "{}: call into the middle of ldimm64 insn {}",
                                         code[caller].info().name, start - 1));
        else
            structure.starts.push_back(start);
    structure.owner.resize(n);
    for (size_t sub = 0; sub < structure.subprogram_count(); ++sub) {
        const size_t end = structure.end_of(sub);
        if (!is_unconditional_end(code[end - 1].op))
            return at(end - 1, make_error(EINVAL, "last insn is not an exit or jmp"));
        for (size_t pc = structure.starts[sub]; pc < end; ++pc)
            structure.owner[pc] = static_cast<uint32_t>(sub);
    }
    return layout;
}

Result<void> check_jumps(std::span<const Insn> code, const Layout& layout) {
    const std::vector<uint32_t>& owner = layout.structure.owner;
    for (size_t pc = 0; pc < code.size(); ++pc) {
        if (code[pc].info().kind != Kind::Jump) continue;
        int64_t target = *target_of(code[pc], pc);
        const bool inside =
            target >= 0 && target < static_cast<int64_t>(code.size()) && owner[target] == owner[pc];
        if (!inside)
            return at(pc, make_error(EINVAL, "jump out of range from insn {} to {}", pc, target));
        if (layout.is_tail[target])
            return at(pc,
                      make_error(EINVAL, "jump into the middle of ldimm64 insn {}", target - 1));
    }
    return {};
}

// The kernel refuses recursion and call chains deeper than MAX_CALL_FRAMES;
// so does crib, which lets both engines keep fixed frame arrays and stacks.
Result<void> check_call_depth(std::span<const Insn> code, const Structure& structure) {
    const size_t subs = structure.subprogram_count();
    struct Call {
        uint32_t pc;
        uint32_t callee;
    };
    std::vector<std::vector<Call>> calls(subs);
    for (size_t pc = 0; pc < code.size(); ++pc) {
        if (code[pc].op != Op::call_local) continue;
        auto target = static_cast<uint32_t>(*target_of(code[pc], pc));
        calls[structure.owner[pc]].push_back({static_cast<uint32_t>(pc), structure.owner[target]});
    }
    enum class Mark : uint8_t { New, Open, Done };
    std::vector<Mark> mark(subs, Mark::New);
    std::vector<int> depth(subs, 1);
    // Iterative DFS: a chain of subprograms can be as long as the program.
    for (size_t root = 0; root < subs; ++root) {
        if (mark[root] != Mark::New) continue;
        std::vector<std::pair<uint32_t, size_t>> stack{{static_cast<uint32_t>(root), 0}};
        mark[root] = Mark::Open;
        while (!stack.empty()) {
            auto& [sub, next] = stack.back();
            if (next < calls[sub].size()) {
                const Call call = calls[sub][next++];
                if (mark[call.callee] == Mark::Open)
                    return at(call.pc, make_error(EINVAL, "recursive call from insn {} to {}",
                                                  call.pc, structure.starts[call.callee]));
                if (mark[call.callee] == Mark::New) {
                    mark[call.callee] = Mark::Open;
                    stack.push_back({call.callee, 0});
                }
                continue;
            }
            for (const Call& call : calls[sub]) {
                depth[sub] = std::max(depth[sub], depth[call.callee] + 1);
                if (depth[sub] > kMaxCallDepth)
                    return at(call.pc, make_error(E2BIG, "the call stack of {} frames is too deep",
                                                  depth[sub]));
            }
            mark[sub] = Mark::Done;
            stack.pop_back();
        }
    }
    return {};
}

}  // namespace

std::optional<int64_t> target_of(const Insn& insn, size_t pc) {
    const auto here = static_cast<int64_t>(pc) + 1;
    switch (insn.op) {
        case Op::ja32:
        case Op::call_local:
        case Op::lddw_func:
            return here + insn.imm;
        default:
            break;
    }
    if (insn.info().kind == Kind::Jump) return here + insn.off;
    return std::nullopt;
}

Result<Structure> check_structure(std::span<const Insn> code) {
    if (code.empty()) return make_error(EINVAL, "program has no instructions");
    Layout layout = CRIB_TRY(check_slots(code));
    CRIB_TRY(check_jumps(code, layout));
    CRIB_TRY(check_call_depth(code, layout.structure));
    return std::move(layout.structure);
}

}  // namespace crib::exec
