// What the verifier knows of one register: its type and, per type, the
// facts that make accesses through it safe. Pointer offsets are a fixed
// part (off) plus a variable part kept as a Scalar, as the kernel keeps them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "verifier/bounds.hpp"

namespace crib::btf {
class Btf;
}

namespace crib::verifier {

enum class RegType : uint8_t {
    NotInit,
    Scalar,
    Ctx,        // PTR_TO_CTX
    Stack,      // PTR_TO_STACK, of frame `frameno`
    MapPtr,     // CONST_PTR_TO_MAP
    MapValue,   // PTR_TO_MAP_VALUE
    MapKey,     // PTR_TO_MAP_KEY (for_each callbacks)
    Mem,        // PTR_TO_MEM: helper-returned memory of mem_size bytes (ringbuf records)
    Func,       // PTR_TO_FUNC: a subprogram, for callbacks
    BtfId,      // PTR_TO_BTF_ID: struct btf_id of `btf` (opaque without one)
    Packet,     // PTR_TO_PACKET: packet data, `range` bytes proven below data_end
    PacketEnd,  // PTR_TO_PACKET_END: only compared against
};

struct RegState {
    RegType type = RegType::NotInit;
    // Scalar: the value. Pointers: the variable part of the offset.
    Scalar value = Scalar::unknown();
    int32_t off = 0;          // pointers: fixed offset
    uint32_t map = 0;         // MapPtr, MapValue, MapKey: index into VerifyInput::maps
    uint32_t mem_size = 0;    // Mem
    uint32_t frameno = 0;     // Stack
    uint32_t subprog = 0;     // Func: first insn of the subprogram
    uint32_t id = 0;          // maybe-NULL pointers: copies share an id, checked together
    uint32_t ref_obj_id = 0;  // acquired references (ringbuf records)
    // Packet: bytes from (packet start + variable part) known to be inside
    // the packet; pointers sharing an id share the variable part.
    uint32_t range = 0;
    // BtfId: the struct, in a BTF that outlives the verification (a kfunc
    // proto's, which the registry keeps).
    const btf::Btf* btf = nullptr;
    uint32_t btf_id = 0;
    bool maybe_null = false;
    bool ringbuf = false;    // Mem from bpf_ringbuf_reserve
    bool read_only = false;  // Mem / MapValue / BtfId the program may not write

    static RegState scalar(Scalar value) {
        RegState r;
        r.type = RegType::Scalar;
        r.value = value;
        return r;
    }
    static RegState unknown() { return scalar(Scalar::unknown()); }
    static RegState pointer(RegType type, int32_t off = 0) {
        RegState r;
        r.type = type;
        r.value = Scalar::constant(0);
        r.off = off;
        return r;
    }

    bool is_pointer() const { return type != RegType::NotInit && type != RegType::Scalar; }
    bool is_init() const { return type != RegType::NotInit; }
    bool operator==(const RegState&) const = default;
};

// A scalar known to be 0: what a NULL pointer is once tested.
inline bool is_null(const RegState& reg) {
    return reg.type == RegType::Scalar && reg.value.is_const() && reg.value.const_value() == 0;
}

// Two pointers of one type that reach the same object the same way: all
// but the variable offset, the packet range and the ids agree. Pruning
// compares those three separately.
inline bool same_referent(const RegState& a, const RegState& b) {
    return a.type == b.type && a.off == b.off && a.map == b.map && a.mem_size == b.mem_size &&
           a.frameno == b.frameno && a.subprog == b.subprog && a.maybe_null == b.maybe_null &&
           a.ringbuf == b.ringbuf && a.read_only == b.read_only && a.btf == b.btf &&
           a.btf_id == b.btf_id;
}

// The kernel's name of a register type in messages ("scalar", "map_value_or_null",
// "ptr_or_null_crib_vma": a BtfId names its struct).
std::string type_name(const RegState& reg);
// `R1=map_value(off=0,ks=4,vs=8)`-style text for the log.
std::string describe(const RegState& reg);

}  // namespace crib::verifier
