#include "exec/engine_program.hpp"
#include "maps/map.hpp"

namespace crib::exec {

const Program* tail_call_target(void* prog_array, uint64_t index) {
    if (!prog_array) return nullptr;
    const auto* map = static_cast<const maps::Map*>(prog_array);
    // A program may pass any map; only a prog_array holds programs.
    if (map->type() != maps::MapType::ProgArray) return nullptr;
    return static_cast<const Program*>(maps::prog_array_get(*map, index));
}

bool TailCallChain::take(const uint64_t* regs) {
    if (count >= kMaxTailCalls) return false;
    const Program* target = tail_call_target(reinterpret_cast<void*>(regs[2]), regs[3]);
    if (!target) return false;
    ++count;
    next = target;
    next_ctx = regs[1];
    return true;
}

}  // namespace crib::exec
