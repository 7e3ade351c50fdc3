// The bpf_test_* kfunc set: kfuncs of every prototype shape the verifier
// types (scalars, sized memory read or written, objects acquired and
// released, an open-coded iterator), with native implementations, so
// verifier cases and BPF C test programs can call them. Registered for
// syscall programs; the CRIB layer registers the bpf_crib_* ones.
//
// BPF C side:
//   struct bpf_iter_test_num { __u64 __opaque[4]; } __attribute__((aligned(8)));
//   struct test_item { __u64 value, square; };
//   int bpf_iter_test_num_new(struct bpf_iter_test_num *it, __u32 start, __u32 end);
//   const struct test_item *bpf_iter_test_num_next(struct bpf_iter_test_num *it);
//   void bpf_iter_test_num_destroy(struct bpf_iter_test_num *it);
//   __u64 bpf_test_add(__u64 a, __u64 b);
//   int bpf_test_fill(__u32 seed, void *out, __u32 out__sz);      // writes every byte
//   __u64 bpf_test_sum(const void *buf, __u32 buf__sz);           // reads
//   __u64 bpf_test_bump(void *buf, __u32 buf__sz);                // reads and writes
//   struct test_item *bpf_test_acquire(__u64 value);              // NULL for 0
//   void bpf_test_release(struct test_item *item);
//   __u64 bpf_test_item_value(const struct test_item *item);
//   const struct test_rich *bpf_test_rich(void);   // one of every member kind
//   struct test_rich *bpf_test_rich_rw(void);      // the same, writable
//
// Their struct types come from a BTF built here as clang would describe
// them (test_types_btf()); the kfuncs return PTR_TO_BTF_ID of them.
#pragma once

#include <bpf/btf.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <stdexcept>

#include "btf/btf.hpp"
#include "progs/kfuncs.hpp"

namespace crib::verifier::test {

struct TestItem {
    uint64_t value, square;
};

// struct test_rich: a member of each kind the verifier types, with padding
// (12..16) and bitfields.
struct TestRich {
    uint8_t u8;
    int8_t s8;
    uint16_t u16;
    uint32_t u32;
    int32_t s32;
    uint64_t u64;  // at 16: 4 bytes of padding before it
    bool flag;
    uint8_t bytes[7];
    TestItem inner;     // 32
    TestItem items[2];  // 48
    TestItem* next;     // 80
    uint32_t color;     // enum test_color
    uint32_t lo : 4, hi : 12;
};
static_assert(offsetof(TestRich, u64) == 16 && offsetof(TestRich, inner) == 32 &&
              offsetof(TestRich, items) == 48 && offsetof(TestRich, next) == 80 &&
              offsetof(TestRich, color) == 88 && sizeof(TestRich) == 96);

// The BPF view of test_item and test_rich, built once.
inline std::shared_ptr<const btf::Btf> test_types_btf() {
    static const std::shared_ptr<const btf::Btf> types = [] {
        struct ::btf* b = btf__new_empty();
        if (!b) throw std::runtime_error("btf__new_empty failed");
        int u8 = btf__add_int(b, "unsigned char", 1, 0);
        int s8 = btf__add_int(b, "signed char", 1, BTF_INT_SIGNED);
        int u16 = btf__add_int(b, "unsigned short", 2, 0);
        int u32 = btf__add_int(b, "unsigned int", 4, 0);
        int s32 = btf__add_int(b, "int", 4, BTF_INT_SIGNED);
        int u64 = btf__add_int(b, "unsigned long long", 8, 0);
        int boolean = btf__add_int(b, "_Bool", 1, BTF_INT_BOOL);
        int item = btf__add_struct(b, "test_item", sizeof(TestItem));
        btf__add_field(b, "value", u64, 0, 0);
        btf__add_field(b, "square", u64, 64, 0);
        int bytes = btf__add_array(b, u32, u8, 7);
        int items = btf__add_array(b, u32, item, 2);
        int item_ptr = btf__add_ptr(b, item);
        int color = btf__add_enum(b, "test_color", 4);
        btf__add_enum_value(b, "TEST_RED", 0);
        btf__add_enum_value(b, "TEST_GREEN", 1);
        btf__add_struct(b, "test_rich", sizeof(TestRich));
        const std::pair<const char*, int> fields[] = {
            {"u8", u8},      {"s8", s8},       {"u16", u16},       {"u32", u32},
            {"s32", s32},    {"u64", u64},     {"flag", boolean},  {"bytes", bytes},
            {"inner", item}, {"items", items}, {"next", item_ptr}, {"color", color}};
        const uint32_t offsets[] = {0, 1, 2, 4, 8, 16, 24, 25, 32, 48, 80, 88};
        for (size_t i = 0; i < std::size(fields); ++i)
            btf__add_field(b, fields[i].first, fields[i].second, offsets[i] * 8, 0);
        btf__add_field(b, "lo", u32, 92 * 8, 4);
        btf__add_field(b, "hi", u32, 92 * 8 + 4, 12);
        return btf::Btf::adopt(b);
    }();
    return types;
}

// The iterator's 32 bytes: next value, end, and the item _next hands out.
struct TestIter {
    uint64_t next, end;
    TestItem item;
};
static_assert(sizeof(TestIter) == 32);

inline uint64_t iter_new(uint64_t it, uint64_t start, uint64_t end, uint64_t, uint64_t) {
    auto* iter = reinterpret_cast<TestIter*>(it);
    *iter = TestIter{start & 0xffffffff, end & 0xffffffff, {}};
    return iter->next <= iter->end ? 0 : static_cast<uint64_t>(-EINVAL);
}

inline uint64_t iter_next(uint64_t it, uint64_t, uint64_t, uint64_t, uint64_t) {
    auto* iter = reinterpret_cast<TestIter*>(it);
    if (iter->next >= iter->end) return 0;
    iter->item = TestItem{iter->next, iter->next * iter->next};
    iter->next++;
    return reinterpret_cast<uint64_t>(&iter->item);
}

inline uint64_t iter_destroy(uint64_t it, uint64_t, uint64_t, uint64_t, uint64_t) {
    *reinterpret_cast<TestIter*>(it) = TestIter{};
    return 0;
}

inline uint64_t add(uint64_t a, uint64_t b, uint64_t, uint64_t, uint64_t) {
    return a + b;
}

inline uint64_t fill(uint64_t seed, uint64_t out, uint64_t size, uint64_t, uint64_t) {
    auto* bytes = reinterpret_cast<uint8_t*>(out);
    for (uint64_t i = 0; i < size; ++i) bytes[i] = static_cast<uint8_t>(seed + i);
    return size;
}

inline uint64_t sum(uint64_t buf, uint64_t size, uint64_t, uint64_t, uint64_t) {
    const auto* bytes = reinterpret_cast<const uint8_t*>(buf);
    uint64_t total = 0;
    for (uint64_t i = 0; i < size; ++i) total += bytes[i];
    return total;
}

inline uint64_t bump(uint64_t buf, uint64_t size, uint64_t, uint64_t, uint64_t) {
    auto* bytes = reinterpret_cast<uint8_t*>(buf);
    for (uint64_t i = 0; i < size; ++i) bytes[i]++;
    return sum(buf, size, 0, 0, 0);
}

inline uint64_t acquire(uint64_t value, uint64_t, uint64_t, uint64_t, uint64_t) {
    if (value == 0) return 0;
    return reinterpret_cast<uint64_t>(new TestItem{value, value * value});
}

inline uint64_t release(uint64_t item, uint64_t, uint64_t, uint64_t, uint64_t) {
    delete reinterpret_cast<TestItem*>(item);
    return 0;
}

inline uint64_t item_value(uint64_t item, uint64_t, uint64_t, uint64_t, uint64_t) {
    return reinterpret_cast<const TestItem*>(item)->value;
}

inline TestRich& rich_object() {
    static TestRich rich{1,       -2, 3, 4, -5, 6, true, {}, {7, 49}, {{8, 64}, {9, 81}},
                         nullptr, 1,  2, 3};
    return rich;
}

inline uint64_t rich(uint64_t, uint64_t, uint64_t, uint64_t, uint64_t) {
    return reinterpret_cast<uint64_t>(&rich_object());
}

// A proto returning a pointer to `struct <name>` of the test types.
inline progs::KfuncProto returning(progs::KfuncProto proto, const char* name) {
    auto typed = progs::set_ret_struct(proto, *test_types_btf(), name);
    if (!typed) throw std::runtime_error(typed.error().to_string());
    return proto;
}

// A proto whose object arg#0 is a `struct test_item`.
inline progs::KfuncProto taking_item(progs::KfuncProto proto) {
    auto typed = progs::set_arg_struct(proto, 0, *test_types_btf(), "test_item");
    if (!typed) throw std::runtime_error(typed.error().to_string());
    return proto;
}

inline progs::KfuncSet test_kfunc_set() {
    using progs::ArgKind;
    using progs::ArgSpec;
    using progs::RetKind;
    constexpr ArgSpec kAny{ArgKind::Anything}, kSize{ArgKind::ConstSize}, kIter{ArgKind::PtrToIter},
        kMem{ArgKind::PtrToMem}, kMemRead{ArgKind::PtrToMem, progs::kReadOnly},
        kMemWrite{ArgKind::PtrToMem, progs::kUninit};
    constexpr progs::RetSpec kInt{RetKind::Integer}, kVoid{RetKind::Void},
        kItem{RetKind::PtrToMem, progs::kRetMaybeNull}, kObject{RetKind::PtrToMem};
    auto writable = [](progs::KfuncProto proto) {
        proto.ret_writable = true;
        return proto;
    };
    auto iter = [](progs::KfuncProto proto) {
        proto.iter = "test_num";
        proto.iter_size = sizeof(TestIter);
        return proto;
    };
    return progs::KfuncSet{
        "bpf_test_kfuncs",
        {
            {"bpf_iter_test_num_new", iter_new, progs::kKfIterNew,
             iter({kInt, 0, {kIter, kAny, kAny}})},
            {"bpf_iter_test_num_next", iter_next, progs::kKfIterNext | progs::kKfRetNull,
             returning(iter({kItem, 0, {kIter}}), "test_item")},
            {"bpf_iter_test_num_destroy", iter_destroy, progs::kKfIterDestroy,
             iter({kVoid, 0, {kIter}})},
            {"bpf_test_add", add, 0, {kInt, 0, {kAny, kAny}}},
            {"bpf_test_fill", fill, 0, {kInt, 0, {kAny, kMemWrite, kSize}}},
            {"bpf_test_sum", sum, 0, {kInt, 0, {kMemRead, kSize}}},
            {"bpf_test_bump", bump, 0, {kInt, 0, {kMem, kSize}}},
            {"bpf_test_acquire", acquire, progs::kKfAcquire | progs::kKfRetNull,
             returning({kItem, 0, {kAny}}, "test_item")},
            {"bpf_test_release", release, progs::kKfRelease, taking_item({kVoid, 0, {kMemRead}})},
            {"bpf_test_item_value", item_value, 0, taking_item({kInt, 0, {kMemRead}})},
            {"bpf_test_rich", rich, 0, returning({kObject}, "test_rich")},
            {"bpf_test_rich_rw", rich, 0, writable(returning({kObject}, "test_rich"))},
        },
    };
}

// Registers the set for syscall programs once per process.
inline void register_test_kfuncs() {
    static std::once_flag once;
    std::call_once(once, [] {
        auto done = progs::register_kfunc_set(progs::ProgType::Syscall, test_kfunc_set());
        if (!done) throw std::runtime_error(done.error().to_string());
    });
}

}  // namespace crib::verifier::test
