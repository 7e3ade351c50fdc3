// BPF_MAP_TYPE_RINGBUF, after the kernel's ringbuf.c: a multi-producer,
// single-consumer byte ring. Producers take a spin lock only to claim space
// (advance the producer position and write a busy header); filling and
// committing the record happen outside it, so records commit out of order
// and the consumer stops at the first still-busy one. See ringbuf.hpp for the
// memory layout.
#include "maps/ringbuf.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <climits>
#include <cstring>
#include <new>

#include "maps/common.hpp"
#include "maps/registry.hpp"

namespace crib::maps {
namespace {

using namespace detail;

inline constexpr uint32_t kLenFlags = kRingbufBusyBit | kRingbufDiscardBit;
inline constexpr uint64_t kMaxRecordSize = UINT32_MAX >> 2;  // len leaves two bits for flags
// pg_off is counted in pages from the mapping's start and the kernel keeps it
// under 2^24 pages; the limit on data follows.
inline constexpr uint64_t kMaxPageOffset = 1ull << 24;

uint64_t load(const uint64_t& pos, std::memory_order order = std::memory_order_seq_cst) {
    return std::atomic_ref<uint64_t>(const_cast<uint64_t&>(pos)).load(order);
}
uint32_t load_len(const uint8_t* header, std::memory_order order = std::memory_order_seq_cst) {
    return std::atomic_ref<uint32_t>(*reinterpret_cast<uint32_t*>(const_cast<uint8_t*>(header)))
        .load(order);
}
uint64_t record_span(uint32_t len) {
    return round_up8((len & ~kLenFlags) + kRingbufHeaderSize);
}

class RingbufMap;

// The page before the consumer page, private to this process: how a sample
// pointer leads back to its map.
struct RingbufMeta {
    RingbufMap* self;
};

struct RecordHeader {
    uint32_t len;
    uint32_t pg_off;
};

// Virtual layout: [meta][consumer page][producer page][data][data again].
class RingbufMap final : public Map {
public:
    static Result<std::unique_ptr<Map>> create(const MapSpec& spec) {
        size_t page = page_size();
        uint64_t size = spec.max_entries;
        auto map = std::unique_ptr<RingbufMap>(new RingbufMap(spec));
        map->m_total = 3 * page + 2 * size;
        map->m_fd =
            memfd_create(spec.name.empty() ? "crib-ringbuf" : spec.name.c_str(), MFD_CLOEXEC);
        map->m_wakeup_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (map->m_fd < 0 || map->m_wakeup_fd < 0 ||
            ftruncate(map->m_fd, static_cast<off_t>(2 * page + size)) != 0)
            return spec_error(spec, ENOMEM, "cannot create the ring buffer's memory");
        void* base = mmap(nullptr, map->m_total, PROT_NONE,
                          MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (base == MAP_FAILED) return spec_error(spec, ENOMEM, "cannot reserve address space");
        map->m_base = static_cast<std::byte*>(base);
        std::byte* data = map->m_base + 3 * page;
        constexpr int kRw = PROT_READ | PROT_WRITE;
        if (mmap(map->m_base, page, kRw, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) ==
                MAP_FAILED ||
            mmap(map->m_base + page, 2 * page + size, kRw, MAP_FIXED | MAP_SHARED, map->m_fd, 0) ==
                MAP_FAILED ||
            mmap(data + size, size, kRw, MAP_FIXED | MAP_SHARED, map->m_fd,
                 static_cast<off_t>(2 * page)) == MAP_FAILED)
            return spec_error(spec, ENOMEM, "cannot map the ring buffer's data twice");
        new (map->m_base) RingbufMeta{map.get()};
        map->m_data = reinterpret_cast<uint8_t*>(data);
        map->m_mask = size - 1;
        return std::unique_ptr<Map>(std::move(map));
    }

    ~RingbufMap() override {
        if (m_base) munmap(m_base, m_total);
        if (m_fd >= 0) close(m_fd);
        if (m_wakeup_fd >= 0) close(m_wakeup_fd);
    }

    int mmap_fd() const override { return m_fd; }

    static RingbufMap* from(Map& map) {
        return map.type() == MapType::Ringbuf ? static_cast<RingbufMap*>(&map) : nullptr;
    }

    // The map a sample belongs to, through the header's page offset.
    static RingbufMap* from_sample(void* sample) {
        auto* header = static_cast<RecordHeader*>(sample) - 1;
        auto page_of_header = reinterpret_cast<uintptr_t>(header) & ~(page_size() - 1);
        auto* meta = reinterpret_cast<RingbufMeta*>(page_of_header - header->pg_off * page_size());
        return meta->self;
    }

    RingbufLayout layout() const {
        size_t page = page_size();
        RingbufLayout out;
        out.consumer_pos = &consumer_pos();
        out.producer_pos = &producer_pos();
        out.data = m_data;
        out.size = m_mask + 1;
        out.fd = m_fd;
        out.consumer_offset = 0;
        out.producer_offset = page;
        out.data_offset = 2 * page;
        out.wakeup_fd = m_wakeup_fd;
        return out;
    }

    void* reserve(uint64_t size, uint64_t flags) {
        if (flags || size > kMaxRecordSize) return nullptr;
        uint64_t len = round_up8(size + kRingbufHeaderSize);
        if (len > m_mask + 1) return nullptr;
        uint64_t cons = load(consumer_pos(), std::memory_order_acquire);
        std::lock_guard guard(m_lock);
        uint64_t prod = producer_pos();
        // The consumer position is the consumer's to write and could run
        // past busy records; never let new records overwrite those.
        while (m_pending_pos < prod) {
            uint32_t pending_len =
                load_len(m_data + (m_pending_pos & m_mask), std::memory_order_acquire);
            if (pending_len & kRingbufBusyBit) break;
            m_pending_pos += record_span(pending_len);
        }
        uint64_t new_prod = prod + len;
        // At most size - 1 bytes in flight, as the kernel keeps it.
        if (new_prod - cons > m_mask || new_prod - m_pending_pos > m_mask) return nullptr;
        auto* header = reinterpret_cast<RecordHeader*>(m_data + (prod & m_mask));
        header->pg_off =
            static_cast<uint32_t>(((reinterpret_cast<uintptr_t>(header) & ~(page_size() - 1)) -
                                   reinterpret_cast<uintptr_t>(m_base)) /
                                  page_size());
        std::atomic_ref<uint32_t>(header->len)
            .store(static_cast<uint32_t>(size) | kRingbufBusyBit, std::memory_order_relaxed);
        std::atomic_ref<uint64_t>(producer_pos()).store(new_prod, std::memory_order_seq_cst);
        return header + 1;
    }

    void commit(void* sample, uint64_t flags, bool discard) {
        auto* header = static_cast<RecordHeader*>(sample) - 1;
        std::atomic_ref<uint32_t> len(header->len);
        uint32_t new_len = len.load(std::memory_order_relaxed) ^ kRingbufBusyBit;
        if (discard) new_len |= kRingbufDiscardBit;
        len.exchange(new_len, std::memory_order_seq_cst);
        // Wake the consumer only when it is waiting on this very record:
        // records behind it will be seen when it gets here anyway.
        uint64_t record_pos = reinterpret_cast<uint8_t*>(header) - m_data;
        uint64_t cons = load(consumer_pos()) & m_mask;
        if ((flags & kRbForceWakeup) || (cons == record_pos && !(flags & kRbNoWakeup))) wake();
    }

    uint64_t query(uint64_t flags) const {
        switch (flags) {
            case kRbAvailData:
                return load(producer_pos(), std::memory_order_acquire) -
                       load(consumer_pos(), std::memory_order_acquire);
            case kRbRingSize:
                return m_mask + 1;
            case kRbConsPos:
                return load(consumer_pos(), std::memory_order_acquire);
            case kRbProdPos:
                return load(producer_pos(), std::memory_order_acquire);
            default:
                return 0;
        }
    }

private:
    explicit RingbufMap(MapSpec spec) : Map(std::move(spec)) {}

    uint64_t& consumer_pos() const { return *reinterpret_cast<uint64_t*>(m_base + page_size()); }
    uint64_t& producer_pos() const {
        return *reinterpret_cast<uint64_t*>(m_base + 2 * page_size());
    }

    void wake() {
        uint64_t one = 1;
        // A full counter (EAGAIN) already means "readable": nothing to add.
        [[maybe_unused]] ssize_t written = write(m_wakeup_fd, &one, sizeof one);
    }

    std::byte* m_base = nullptr;
    size_t m_total = 0;
    uint8_t* m_data = nullptr;
    uint64_t m_mask = 0;
    int m_fd = -1;
    int m_wakeup_fd = -1;
    SpinLock m_lock;             // serialises producers, as the kernel's rb->spinlock
    uint64_t m_pending_pos = 0;  // first record that may still be busy; under m_lock
};

Result<void> check(const MapSpec& spec) {
    CRIB_TRY(check_flags(spec, kNumaNode));
    if (spec.key_size != 0 || spec.value_size != 0)
        return spec_error(spec, EINVAL, "key_size ({}) and value_size ({}) must be 0",
                          spec.key_size, spec.value_size);
    uint32_t size = spec.max_entries;
    if (size == 0 || (size & (size - 1)) != 0 || size % page_size() != 0)
        return spec_error(spec, EINVAL,
                          "max_entries {} must be a power of 2 and a multiple of the page size {}",
                          size, page_size());
    if (size / page_size() + 3 > kMaxPageOffset)
        return spec_error(spec, E2BIG, "max_entries {} is too large", size);
    return {};
}

}  // namespace

void* ringbuf_reserve(Map& ringbuf, uint64_t size, uint64_t flags) {
    RingbufMap* map = RingbufMap::from(ringbuf);
    return map ? map->reserve(size, flags) : nullptr;
}

void ringbuf_submit(void* sample, uint64_t flags) {
    RingbufMap::from_sample(sample)->commit(sample, flags, /*discard=*/false);
}

void ringbuf_discard(void* sample, uint64_t flags) {
    RingbufMap::from_sample(sample)->commit(sample, flags, /*discard=*/true);
}

long ringbuf_output(Map& ringbuf, const void* data, uint64_t size, uint64_t flags) {
    RingbufMap* map = RingbufMap::from(ringbuf);
    if (!map || (flags & ~(kRbNoWakeup | kRbForceWakeup))) return -EINVAL;
    void* sample = map->reserve(size, 0);
    if (!sample) return -EAGAIN;
    std::memcpy(sample, data, size);
    map->commit(sample, flags, /*discard=*/false);
    return 0;
}

uint64_t ringbuf_query(Map& ringbuf, uint64_t flags) {
    RingbufMap* map = RingbufMap::from(ringbuf);
    return map ? map->query(flags) : 0;
}

Result<RingbufLayout> ringbuf_layout(Map& ringbuf) {
    RingbufMap* map = RingbufMap::from(ringbuf);
    if (!map)
        return make_error(EINVAL, "map '{}' ({}): not a ringbuf", ringbuf.spec().name,
                          map_type_name(ringbuf.type()));
    return map->layout();
}

Result<RingbufConsumer> RingbufConsumer::create(Map& ringbuf, Callback callback) {
    RingbufLayout layout = CRIB_TRY(ringbuf_layout(ringbuf));
    if (!callback)
        return make_error(EINVAL, "map '{}' (ringbuf): consumer needs a callback",
                          ringbuf.spec().name);
    return RingbufConsumer(layout, std::move(callback));
}

int RingbufConsumer::consume() {
    uint64_t mask = m_layout.size - 1;
    std::atomic_ref<uint64_t> consumer(*m_layout.consumer_pos);
    uint64_t cons = consumer.load(std::memory_order_acquire);
    int64_t handled = 0;
    bool got_new;
    do {
        got_new = false;
        uint64_t prod = load(*m_layout.producer_pos, std::memory_order_acquire);
        while (cons < prod) {
            const uint8_t* header = m_layout.data + (cons & mask);
            uint32_t len = load_len(header, std::memory_order_acquire);
            if (len & kRingbufBusyBit) break;  // its producer wakes us on commit
            got_new = true;
            cons += record_span(len);
            if (!(len & kRingbufDiscardBit)) {
                int err = m_callback(
                    std::span<const uint8_t>(header + kRingbufHeaderSize, len & ~kLenFlags));
                if (err < 0) {
                    consumer.store(cons, std::memory_order_seq_cst);
                    return err;
                }
                ++handled;
            }
            // Give space back record by record so producers are not held up.
            consumer.store(cons, std::memory_order_seq_cst);
        }
    } while (got_new);  // look again: producers may have moved on meanwhile
    return handled > INT_MAX ? INT_MAX : static_cast<int>(handled);
}

bool RingbufConsumer::head_committed() const {
    uint64_t cons = load(*m_layout.consumer_pos);
    if (cons == load(*m_layout.producer_pos)) return false;
    return !(load_len(m_layout.data + (cons & (m_layout.size - 1))) & kRingbufBusyBit);
}

void RingbufConsumer::drain_wakeups() const {
    uint64_t count;
    [[maybe_unused]] ssize_t got = read(m_layout.wakeup_fd, &count, sizeof count);
}

int RingbufConsumer::poll(int timeout_ms) {
    // Clear the wakeup count before looking, so a producer that commits
    // after the look leaves the eventfd readable for the wait below.
    drain_wakeups();
    int handled = consume();
    if (handled != 0 || head_committed()) return handled != 0 ? handled : consume();
    // Nothing ready: the head (the record at our stored position, or the
    // next one reserved) will see its position equal ours when committed
    // and wake us.
    pollfd waiter{m_layout.wakeup_fd, POLLIN, 0};
    int ready = ::poll(&waiter, 1, timeout_ms);
    if (ready < 0) return -errno;
    if (ready == 0) return 0;
    drain_wakeups();
    return consume();
}

constinit const detail::MapTypeOps detail::kRingbufType{MapType::Ringbuf, "ringbuf", check,
                                                        RingbufMap::create};

}  // namespace crib::maps
