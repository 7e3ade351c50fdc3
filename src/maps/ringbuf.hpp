// BPF_MAP_TYPE_RINGBUF: the program-side helpers and a user-side consumer.
//
// The memory follows the kernel's layout so it can later be mapped by
// another process exactly as libbpf maps a kernel ring buffer:
//   memfd offset 0           consumer page: u64 consumer position (consumer writes)
//   memfd offset page        producer page: u64 producer position (producers write)
//   memfd offset 2 * page    data area of max_entries bytes
// In this process the data area is mapped twice back to back, so a record
// that wraps past the end is still contiguous in memory. Positions only
// grow; a position's offset in the data area is `pos & (size - 1)`.
//
// Each record starts with an 8-byte header {u32 len, u32 pg_off}: len is the
// payload size with kRingbufBusyBit set while the producer owns the record
// and kRingbufDiscardBit set if it was discarded; pg_off is the header's
// page offset from the start of the ring buffer's mapping, which is how
// submit/discard find the ring buffer from the sample alone. Records are
// rounded up to 8 bytes.
#pragma once

#include <cstdint>
#include <functional>
#include <span>

#include "base/result.hpp"
#include "maps/map.hpp"

namespace crib::maps {

inline constexpr uint32_t kRingbufBusyBit = 1u << 31;
inline constexpr uint32_t kRingbufDiscardBit = 1u << 30;
inline constexpr uint32_t kRingbufHeaderSize = 8;

// Wakeup flags for submit, discard and output (BPF_RB_NO_WAKEUP, BPF_RB_FORCE_WAKEUP).
inline constexpr uint64_t kRbNoWakeup = 1, kRbForceWakeup = 2;
// What ringbuf_query answers (BPF_RB_AVAIL_DATA, _RING_SIZE, _CONS_POS, _PROD_POS).
inline constexpr uint64_t kRbAvailData = 0, kRbRingSize = 1, kRbConsPos = 2, kRbProdPos = 3;

// Program side: the bpf_ringbuf_* helpers. `ringbuf` must be a ringbuf map.
// reserve answers null for non-zero flags, a size over the ring's limits, or
// no room; the caller must submit or discard what it reserved.
void* ringbuf_reserve(Map& ringbuf, uint64_t size, uint64_t flags);
void ringbuf_submit(void* sample, uint64_t flags);
void ringbuf_discard(void* sample, uint64_t flags);
// reserve + copy + submit: 0, -EINVAL for bad flags, -EAGAIN when full.
long ringbuf_output(Map& ringbuf, const void* data, uint64_t size, uint64_t flags);
// One of kRb*: available bytes, ring size, consumer or producer position; 0
// for anything else.
uint64_t ringbuf_query(Map& ringbuf, uint64_t flags);

// Where the ring's parts are, for a consumer here or (via fd) elsewhere.
struct RingbufLayout {
    uint64_t* consumer_pos = nullptr;        // access atomically (std::atomic_ref)
    const uint64_t* producer_pos = nullptr;  // access atomically (std::atomic_ref)
    const uint8_t* data = nullptr;           // size bytes, then the same bytes again
    uint64_t size = 0;                       // max_entries, a power of two
    int fd = -1;                             // memfd, laid out as described above
    uint64_t consumer_offset = 0, producer_offset = 0, data_offset = 0;  // in fd
    int wakeup_fd = -1;  // eventfd producers signal; readable when records may be waiting
};
// EINVAL when the map is not a ringbuf.
Result<RingbufLayout> ringbuf_layout(Map& ringbuf);

// A consumer like libbpf's ring_buffer: hands each committed record to the
// callback in order, skips discarded ones, and stops at one still being
// written. One consumer per ring at a time (as with the kernel's, consumers
// are not serialised against each other).
class RingbufConsumer {
public:
    // Return 0 to go on; a negative value stops consumption (the record
    // counts as consumed) and is returned from consume/poll.
    using Callback = std::function<int(std::span<const uint8_t> record)>;

    static Result<RingbufConsumer> create(Map& ringbuf, Callback callback);

    // Handles every record available now: the number handled, or the
    // callback's negative value.
    int consume();
    // Waits up to timeout_ms (-1: forever) for a wakeup when nothing is
    // ready, then consumes: the number handled (0 on timeout), the
    // callback's negative value, or -errno if waiting failed.
    int poll(int timeout_ms);

    const RingbufLayout& layout() const { return m_layout; }

private:
    RingbufConsumer(RingbufLayout layout, Callback callback)
        : m_layout(layout), m_callback(std::move(callback)) {}
    bool head_committed() const;
    void drain_wakeups() const;

    RingbufLayout m_layout;
    Callback m_callback;
};

}  // namespace crib::maps
