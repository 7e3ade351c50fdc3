// Pre-decoded code the interpreter runs: one 16-byte slot per instruction
// slot, with operands already in the form the handlers use (immediates
// sign-extended once, jump targets relative in one field, helpers resolved
// to function pointers).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "base/result.hpp"
#include "exec/interp/interpreter.hpp"
#include "exec/program.hpp"
#include "isa/insn.hpp"

namespace crib::exec::interp {

// Every ISA row has a handler of the same index; a few calls that compile
// recognises get handlers of their own so their checks stay off the common
// path.
enum class Handler : uint8_t {
#define CRIB_INSN(name, ...) name,
#include "isa/insn.def"
#undef CRIB_INSN
    tail_call,    // call of exec::kHelperTailCall
    call_unwind,  // call of Options::unwind_helper
    count,
};
inline constexpr size_t kHandlerCount = static_cast<size_t>(Handler::count);
static_assert(kHandlerCount <= 256, "handler index must fit the slot's byte");

constexpr Handler handler_of(isa::Op op) {
    return static_cast<Handler>(op);
}

struct Slot {
    Handler handler;
    uint8_t dst;
    uint8_t src;
    uint8_t unused = 0;
    // Jumps and local calls: target minus (this index + 1), from off or imm.
    int32_t off;
    union {
        int64_t imm;  // sign-extended; lddw: the whole 64-bit value
        HelperFn fn;  // call, call_kfunc, call_unwind
    };
};
static_assert(sizeof(Slot) == 16);

// What compile hands the program besides the slots: the slots whose lddw
// loads a function pointer (their target subprogram's start), to be patched
// once the Callables exist.
struct FuncLoad {
    uint32_t slot;
    uint32_t target;
};

struct Translation {
    std::vector<Slot> slots;
    std::vector<FuncLoad> func_loads;
};

// The shared structural checks, then pre-decoding; errors name the
// instruction.
Result<Translation> translate(std::span<const isa::Insn> code, const Imports& imports,
                              const Options& options);

}  // namespace crib::exec::interp
