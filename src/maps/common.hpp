// Pieces every map type shares: spec checks, the status a core operation
// returns, a spin lock that can live in raw (mmap'd) memory, and page
// mappings. Internal to src/maps.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "base/result.hpp"
#include "maps/map.hpp"

namespace crib::maps::detail {

// Kernel limits the checks mirror.
inline constexpr uint32_t kMaxBpfStack = 512;            // MAX_BPF_STACK: hash key limit
inline constexpr uint64_t kKmallocMaxSize = 4ull << 20;  // KMALLOC_MAX_SIZE on x86-64
inline constexpr uint32_t kPcpuMinUnitSize = 32u << 10;  // PCPU_MIN_UNIT_SIZE
// Creation flags beyond the ones map.hpp names, for the per-type masks.
inline constexpr uint32_t kNoCommonLru = 1u << 1, kNumaNode = 1u << 2, kRdonly = 1u << 3,
                          kWronly = 1u << 4, kZeroSeed = 1u << 6, kWronlyProg = 1u << 8,
                          kInnerMap = 1u << 12;
inline constexpr uint32_t kAccessMask = kRdonly | kWronly | kRdonlyProg | kWronlyProg;

constexpr uint64_t round_up(uint64_t value, uint64_t align) {
    return (value + align - 1) / align * align;
}
constexpr uint64_t round_up8(uint64_t value) {
    return round_up(value, 8);
}

size_t page_size();

// "map 'name' (type): rule", the shape every creation error takes.
template <typename... Args>
Error spec_error(const MapSpec& spec, int code, fmt::format_string<Args...> rule, Args&&... args) {
    return Error(code, fmt::format("map '{}' ({}): {}", spec.name, map_type_name(spec.type),
                                   fmt::format(rule, std::forward<Args>(args)...)));
}
// Flags outside `allowed` are EINVAL, as each kernel alloc_check does.
Result<void> check_flags(const MapSpec& spec, uint32_t allowed);
// key_size, value_size and max_entries must all be non-zero.
Result<void> check_sizes_nonzero(const MapSpec& spec);

// Outcome of a core operation, shared by the user side (which turns it into
// an Error naming the map) and the program side (which returns -err).
struct Status {
    int err = 0;
    const char* why = nullptr;
    bool ok() const { return err == 0; }
};
inline constexpr Status kOk{};
Result<void> to_result(const Map& map, std::string_view op, Status status);
inline long to_errno(Status status) {
    return -static_cast<long>(status.err);
}

// The update-flag rules every type starts from: unknown bits -> EINVAL, and
// BPF_F_LOCK needs a bpf_spin_lock in the value, which crib values never
// have (no BTF), so it is EINVAL too.
Status check_update_flags(uint64_t flags);

// Test-and-test-and-set lock over a plain word, so it can sit in mmap'd
// memory (zero = unlocked) like the kernel's raw spinlocks. Producers and
// bucket holders keep it for a few instructions only.
class SpinLock {
public:
    void lock() {
        std::atomic_ref<uint32_t> word(m_word);
        while (word.exchange(1, std::memory_order_acquire) != 0)
            while (word.load(std::memory_order_relaxed) != 0) pause();
    }
    bool try_lock() {
        return std::atomic_ref<uint32_t>(m_word).exchange(1, std::memory_order_acquire) == 0;
    }
    void unlock() { std::atomic_ref<uint32_t>(m_word).store(0, std::memory_order_release); }

private:
    static void pause() {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    alignas(4) uint32_t m_word = 0;
};

// Zeroed, page-aligned memory from mmap. With `shareable` it is backed by a
// memfd so the runtime (or another process) can map the same pages.
class Mapping {
public:
    Mapping() = default;
    Mapping(Mapping&& other) noexcept { swap(other); }
    Mapping& operator=(Mapping&& other) noexcept {
        Mapping(std::move(other)).swap(*this);
        return *this;
    }
    ~Mapping();

    static Result<Mapping> create(const MapSpec& spec, size_t bytes, bool shareable);

    std::byte* data() const { return m_data; }
    size_t size() const { return m_size; }
    int fd() const { return m_fd; }

private:
    void swap(Mapping& other) noexcept;
    std::byte* m_data = nullptr;
    size_t m_size = 0;
    int m_fd = -1;
};

}  // namespace crib::maps::detail
