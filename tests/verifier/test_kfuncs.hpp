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
#pragma once

#include <cerrno>
#include <cstdint>
#include <mutex>

#include "progs/kfuncs.hpp"

namespace crib::verifier::test {

struct TestItem {
    uint64_t value, square;
};

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

inline progs::KfuncSet test_kfunc_set() {
    using progs::ArgKind;
    using progs::ArgSpec;
    using progs::RetKind;
    constexpr ArgSpec kAny{ArgKind::Anything}, kSize{ArgKind::ConstSize}, kIter{ArgKind::PtrToIter},
        kMem{ArgKind::PtrToMem}, kMemRead{ArgKind::PtrToMem, progs::kReadOnly},
        kMemWrite{ArgKind::PtrToMem, progs::kUninit};
    constexpr progs::RetSpec kInt{RetKind::Integer}, kVoid{RetKind::Void},
        kItem{RetKind::PtrToMem, progs::kRetMaybeNull};
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
             iter({kItem, sizeof(TestItem), {kIter}})},
            {"bpf_iter_test_num_destroy", iter_destroy, progs::kKfIterDestroy,
             iter({kVoid, 0, {kIter}})},
            {"bpf_test_add", add, 0, {kInt, 0, {kAny, kAny}}},
            {"bpf_test_fill", fill, 0, {kInt, 0, {kAny, kMemWrite, kSize}}},
            {"bpf_test_sum", sum, 0, {kInt, 0, {kMemRead, kSize}}},
            {"bpf_test_bump", bump, 0, {kInt, 0, {kMem, kSize}}},
            {"bpf_test_acquire",
             acquire,
             progs::kKfAcquire | progs::kKfRetNull,
             {kItem, sizeof(TestItem), {kAny}}},
            {"bpf_test_release", release, progs::kKfRelease, {kVoid, 0, {kMemRead}}},
            {"bpf_test_item_value", item_value, 0, {kInt, 0, {kMemRead}}},
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
