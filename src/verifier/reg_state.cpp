#include "verifier/reg_state.hpp"

#include <fmt/format.h>

#include "btf/btf.hpp"

namespace crib::verifier {

std::string type_name(const RegState& reg) {
    std::string base;
    switch (reg.type) {
        case RegType::NotInit:
            return "?";
        case RegType::Scalar:
            return "scalar";
        case RegType::Ctx:
            base = "ctx";
            break;
        case RegType::Stack:
            base = "fp";
            break;
        case RegType::MapPtr:
            base = "map_ptr";
            break;
        case RegType::MapValue:
            base = "map_value";
            break;
        case RegType::MapKey:
            base = "map_key";
            break;
        case RegType::Mem:
            base = reg.ringbuf ? "ringbuf_mem" : "mem";
            break;
        case RegType::Func:
            base = "func";
            break;
        case RegType::BtfId: {
            // The kernel's order: "ptr_or_null_" then the struct's name.
            base = reg.maybe_null ? "ptr_or_null_" : "ptr_";
            if (reg.btf) base += reg.btf->name(reg.btf_id);
            return reg.read_only ? "rdonly_" + base : base;
        }
        case RegType::Packet:
            base = "pkt";
            break;
        case RegType::PacketEnd:
            base = "pkt_end";
            break;
    }
    if (reg.read_only) base = "rdonly_" + base;
    if (reg.maybe_null) base += "_or_null";
    return base;
}

std::string describe(const RegState& reg) {
    switch (reg.type) {
        case RegType::NotInit:
            return "?";
        case RegType::Scalar:
            if (reg.value.is_const())
                return fmt::format("{}", static_cast<int64_t>(reg.value.const_value()));
            return fmt::format("scalar({})", reg.value.to_string());
        case RegType::Stack:
            if (reg.value.is_const() && reg.value.const_value() == 0)
                return reg.frameno ? fmt::format("fp{}[{}]", reg.off, reg.frameno)
                                   : fmt::format("fp{}", reg.off);
            break;
        default:
            break;
    }
    std::string out = type_name(reg) + "(";
    std::string parts;
    auto add = [&](std::string text) {
        if (!parts.empty()) parts += ",";
        parts += text;
    };
    if (reg.off) add(fmt::format("off={}", reg.off));
    if (!reg.value.is_const() || reg.value.const_value() != 0) add(reg.value.to_string());
    if (reg.type == RegType::MapPtr || reg.type == RegType::MapValue || reg.type == RegType::MapKey)
        add(fmt::format("map={}", reg.map));
    if (reg.type == RegType::Mem) add(fmt::format("sz={}", reg.mem_size));
    if (reg.type == RegType::Packet) add(fmt::format("r={}", reg.range));
    if (reg.id) add(fmt::format("id={}", reg.id));
    if (reg.ref_obj_id) add(fmt::format("ref_obj_id={}", reg.ref_obj_id));
    return out + parts + ")";
}

}  // namespace crib::verifier
