#include "exec/resolve.hpp"

#include <fmt/format.h>

namespace crib::exec {

Result<HelperFn> resolve_call(const isa::Insn& insn, const Imports& imports) {
    const std::string_view name = insn.info().name;
    if (insn.info().operation == isa::Operation::Kfunc) {
        HelperFn fn = imports.kfunc ? imports.kfunc(insn.imm, insn.off) : nullptr;
        if (!fn)
            return make_error(EINVAL, "{}: unknown kernel function btf_id {} (module {})", name,
                              insn.imm, insn.off);
        return fn;
    }
    HelperFn fn = imports.helper ? imports.helper(insn.imm) : nullptr;
    if (!fn) return make_error(EINVAL, "{}: invalid func unknown#{}", name, insn.imm);
    return fn;
}

HelperFn resolve_callx(const Imports& imports, int32_t helper_id, size_t pc, const LogSink& log) {
    HelperFn fn = imports.helper ? imports.helper(helper_id) : nullptr;
    if (!fn && log)
        log(LogLevel::Error,
            fmt::format("insn {}: callx: invalid func unknown#{}; program stopped", pc, helper_id));
    return fn;
}

Error unresolved_lddw(const isa::Insn& insn) {
    return make_error(EINVAL,
                      "{}: ld_imm64 with pseudo source {} must be resolved by the runtime before "
                      "compile",
                      insn.info().name, insn.src);
}

}  // namespace crib::exec
