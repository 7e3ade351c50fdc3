// ringbuf: producer helpers, the consumer, layout and concurrency.
#include "maps/ringbuf.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <thread>
#include <vector>

#include "map_test_util.hpp"

namespace crib::maps {
namespace {

using test::make_map;
using test::spec_of;

uint32_t page() {
    return static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
}

std::unique_ptr<Map> make_ring(uint32_t size) {
    return make_map(spec_of(MapType::Ringbuf, 0, 0, size, 0, "events"));
}

struct Collector {
    std::vector<std::vector<uint8_t>> records;
    RingbufConsumer::Callback callback() {
        return [this](std::span<const uint8_t> record) {
            records.emplace_back(record.begin(), record.end());
            return 0;
        };
    }
};

TEST(Ringbuf, ReserveSubmitConsume) {
    auto ring = make_ring(page());
    ASSERT_TRUE(ring);
    Collector got;
    auto consumer = RingbufConsumer::create(*ring, got.callback());
    ASSERT_TRUE(consumer.ok());
    EXPECT_EQ(consumer->consume(), 0);

    auto* sample = static_cast<uint8_t*>(ringbuf_reserve(*ring, 5, 0));
    ASSERT_NE(sample, nullptr);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(sample) % 8, 0u);
    std::memcpy(sample, "hello", 5);
    EXPECT_EQ(ringbuf_query(*ring, kRbProdPos), 16u);  // header + 5 rounded to 8
    EXPECT_EQ(ringbuf_query(*ring, kRbAvailData), 16u);
    EXPECT_EQ(consumer->consume(), 0);  // still busy
    ringbuf_submit(sample, 0);
    EXPECT_EQ(consumer->consume(), 1);
    ASSERT_EQ(got.records.size(), 1u);
    EXPECT_EQ(std::string(got.records[0].begin(), got.records[0].end()), "hello");
    EXPECT_EQ(ringbuf_query(*ring, kRbConsPos), 16u);
    EXPECT_EQ(ringbuf_query(*ring, kRbAvailData), 0u);
    EXPECT_EQ(ringbuf_query(*ring, kRbRingSize), page());
    EXPECT_EQ(ringbuf_query(*ring, 99), 0u);
}

TEST(Ringbuf, HeaderLayoutMatchesTheKernel) {
    auto ring = make_ring(page());
    ASSERT_TRUE(ring);
    auto layout = ringbuf_layout(*ring);
    ASSERT_TRUE(layout.ok());
    auto* sample = static_cast<uint8_t*>(ringbuf_reserve(*ring, 12, 0));
    ASSERT_NE(sample, nullptr);
    EXPECT_EQ(sample, layout->data + 8);
    uint32_t len, pg_off;
    std::memcpy(&len, layout->data, 4);
    std::memcpy(&pg_off, layout->data + 4, 4);
    EXPECT_EQ(len, 12u | kRingbufBusyBit);
    EXPECT_EQ(pg_off, 3u);  // meta, consumer and producer pages come first
    ringbuf_discard(sample, 0);
    std::memcpy(&len, layout->data, 4);
    EXPECT_EQ(len, 12u | kRingbufDiscardBit);
    EXPECT_EQ(*layout->producer_pos, 24u);
}

TEST(Ringbuf, DiscardedRecordsAreSkipped) {
    auto ring = make_ring(page());
    ASSERT_TRUE(ring);
    Collector got;
    auto consumer = RingbufConsumer::create(*ring, got.callback());
    ASSERT_TRUE(consumer.ok());
    for (uint8_t i = 0; i < 5; ++i) {
        auto* sample = static_cast<uint8_t*>(ringbuf_reserve(*ring, 1, 0));
        ASSERT_NE(sample, nullptr);
        *sample = i;
        if (i % 2)
            ringbuf_discard(sample, 0);
        else
            ringbuf_submit(sample, 0);
    }
    EXPECT_EQ(consumer->consume(), 3);
    ASSERT_EQ(got.records.size(), 3u);
    EXPECT_EQ(got.records[1][0], 2);
    EXPECT_EQ(ringbuf_query(*ring, kRbAvailData), 0u);  // discarded space is returned
}

TEST(Ringbuf, ConsumerStopsAtBusyRecordAndKeepsOrder) {
    auto ring = make_ring(page());
    ASSERT_TRUE(ring);
    Collector got;
    auto consumer = RingbufConsumer::create(*ring, got.callback());
    ASSERT_TRUE(consumer.ok());
    auto* first = static_cast<uint8_t*>(ringbuf_reserve(*ring, 1, 0));
    auto* second = static_cast<uint8_t*>(ringbuf_reserve(*ring, 1, 0));
    *first = 1;
    *second = 2;
    ringbuf_submit(second, 0);  // out of order commit
    EXPECT_EQ(consumer->consume(), 0);
    ringbuf_submit(first, 0);
    EXPECT_EQ(consumer->consume(), 2);
    ASSERT_EQ(got.records.size(), 2u);
    EXPECT_EQ(got.records[0][0], 1);
    EXPECT_EQ(got.records[1][0], 2);
}

TEST(Ringbuf, TooLargeOrFullOrBadFlags) {
    auto ring = make_ring(page());
    ASSERT_TRUE(ring);
    EXPECT_EQ(ringbuf_reserve(*ring, page(), 0), nullptr);      // header does not fit
    EXPECT_EQ(ringbuf_reserve(*ring, page() - 8, 0), nullptr);  // at most size - 1 in flight
    EXPECT_EQ(ringbuf_reserve(*ring, uint64_t{1} << 40, 0), nullptr);
    EXPECT_EQ(ringbuf_reserve(*ring, 8, 1), nullptr);  // flags must be 0
    void* big = ringbuf_reserve(*ring, page() - 16, 0);
    ASSERT_NE(big, nullptr);
    EXPECT_EQ(ringbuf_reserve(*ring, 1, 0), nullptr);  // full
    uint64_t word = 1;
    EXPECT_EQ(ringbuf_output(*ring, &word, 8, 0), -EAGAIN);
    EXPECT_EQ(ringbuf_output(*ring, &word, 8, 4), -EINVAL);
    ringbuf_submit(big, kRbNoWakeup);
    auto other = make_map(spec_of(MapType::Array, 4, 4, 1));
    EXPECT_EQ(ringbuf_reserve(*other, 8, 0), nullptr);
    EXPECT_EQ(ringbuf_output(*other, &word, 8, 0), -EINVAL);
    EXPECT_FALSE(ringbuf_layout(*other).ok());
    EXPECT_FALSE(RingbufConsumer::create(*other, [](auto) { return 0; }).ok());
}

TEST(Ringbuf, RecordsWrapContiguously) {
    auto ring = make_ring(page());
    ASSERT_TRUE(ring);
    Collector got;
    auto consumer = RingbufConsumer::create(*ring, got.callback());
    ASSERT_TRUE(consumer.ok());
    const uint32_t size = 1000;  // 1008 with header: not a divisor of the ring
    std::vector<uint8_t> payload(size);
    for (int i = 0; i < 40; ++i) {
        for (uint32_t j = 0; j < size; ++j) payload[j] = static_cast<uint8_t>(i + j);
        ASSERT_EQ(ringbuf_output(*ring, payload.data(), size, 0), 0) << i;
        ASSERT_EQ(consumer->consume(), 1);
        ASSERT_EQ(got.records.back(), payload) << i;
    }
    EXPECT_GT(ringbuf_query(*ring, kRbProdPos), 8u * page());  // wrapped several times
}

TEST(Ringbuf, CallbackErrorStopsConsumption) {
    auto ring = make_ring(page());
    ASSERT_TRUE(ring);
    int seen = 0;
    auto consumer = RingbufConsumer::create(
        *ring, [&](std::span<const uint8_t>) { return ++seen == 2 ? -42 : 0; });
    ASSERT_TRUE(consumer.ok());
    uint32_t v = 0;
    for (int i = 0; i < 4; ++i) ASSERT_EQ(ringbuf_output(*ring, &v, 4, 0), 0);
    EXPECT_EQ(consumer->consume(), -42);
    EXPECT_EQ(consumer->consume(), 2);  // the failing record counts as consumed
    EXPECT_EQ(seen, 4);
}

TEST(Ringbuf, PollWaitsForWakeup) {
    auto ring = make_ring(page());
    ASSERT_TRUE(ring);
    Collector got;
    auto consumer = RingbufConsumer::create(*ring, got.callback());
    ASSERT_TRUE(consumer.ok());
    EXPECT_EQ(consumer->poll(10), 0);  // times out
    std::thread producer([&] {
        usleep(20000);
        uint32_t v = 5;
        (void)ringbuf_output(*ring, &v, 4, 0);
    });
    EXPECT_EQ(consumer->poll(5000), 1);
    producer.join();
    // No wakeup asked for: poll only finds it at the timeout... or at once,
    // since poll looks before it waits.
    uint32_t v = 6;
    ASSERT_EQ(ringbuf_output(*ring, &v, 4, kRbNoWakeup), 0);
    EXPECT_EQ(consumer->poll(0), 1);
}

TEST(Ringbuf, MemoryIsSharedThroughFd) {
    auto ring = make_ring(2 * page());
    ASSERT_TRUE(ring);
    auto layout = ringbuf_layout(*ring);
    ASSERT_TRUE(layout.ok());
    EXPECT_EQ(layout->fd, ring->mmap_fd());
    EXPECT_EQ(layout->size, 2u * page());
    EXPECT_EQ(layout->producer_offset, page());
    EXPECT_EQ(layout->data_offset, 2u * page());
    // Another mapping of the fd (as a second process would make) sees the
    // same positions and data.
    size_t length = layout->data_offset + layout->size;
    auto* view = static_cast<uint8_t*>(
        mmap(nullptr, length, PROT_READ | PROT_WRITE, MAP_SHARED, layout->fd, 0));
    ASSERT_NE(view, MAP_FAILED);
    uint64_t word = 0x0123456789abcdef;
    ASSERT_EQ(ringbuf_output(*ring, &word, 8, 0), 0);
    uint64_t prod;
    std::memcpy(&prod, view + layout->producer_offset, 8);
    EXPECT_EQ(prod, 16u);
    EXPECT_EQ(std::memcmp(view + layout->data_offset + 8, &word, 8), 0);
    uint64_t cons = 16;  // a consumer elsewhere moves the consumer position
    std::memcpy(view + layout->consumer_offset, &cons, 8);
    EXPECT_EQ(ringbuf_query(*ring, kRbConsPos), 16u);
    munmap(view, length);
}

TEST(Ringbuf, ManyProducersOneConsumer) {
    constexpr int kProducers = 6, kPerProducer = 20000;
    auto ring = make_ring(4 * page());
    ASSERT_TRUE(ring);
    std::vector<uint32_t> next_seq(kProducers, 0);
    std::atomic<int> errors{0};
    int64_t received = 0;
    auto consumer = RingbufConsumer::create(*ring, [&](std::span<const uint8_t> record) {
        uint32_t header[2];
        if (record.size() < sizeof header) return ++errors, -1;
        std::memcpy(header, record.data(), sizeof header);
        uint32_t producer = header[0], seq = header[1];
        // Each producer's records arrive in its order; sizes vary with seq.
        if (producer >= kProducers || seq != next_seq[producer]++ || record.size() != 8 + seq % 50)
            ++errors;
        for (size_t i = 8; i < record.size(); ++i)
            if (record[i] != static_cast<uint8_t>(seq + i)) ++errors;
        ++received;
        return 0;
    });
    ASSERT_TRUE(consumer.ok());
    std::atomic<int> done{0};
    std::vector<std::thread> producers;
    for (uint32_t p = 0; p < kProducers; ++p) {
        producers.emplace_back([&, p] {
            bool discarded = false;
            for (uint32_t seq = 0; seq < kPerProducer;) {
                uint32_t size = 8 + seq % 50;
                auto* sample = static_cast<uint8_t*>(ringbuf_reserve(*ring, size, 0));
                if (!sample) {
                    std::this_thread::yield();  // full: let the consumer catch up
                    continue;
                }
                if (seq % 7 == 3 && !discarded) {
                    std::memset(sample, 0xff, size);  // never seen by the consumer
                    ringbuf_discard(sample, 0);
                    discarded = true;
                    continue;
                }
                std::memcpy(sample, &p, 4);
                std::memcpy(sample + 4, &seq, 4);
                for (uint32_t i = 8; i < size; ++i) sample[i] = static_cast<uint8_t>(seq + i);
                ringbuf_submit(sample, 0);
                ++seq;
                discarded = false;
            }
            ++done;
        });
    }
    while (done.load() < kProducers || ringbuf_query(*ring, kRbAvailData) != 0) {
        int n = consumer->poll(100);
        ASSERT_GE(n, 0);
    }
    for (auto& t : producers) t.join();
    EXPECT_EQ(consumer->consume(), 0);
    EXPECT_EQ(errors.load(), 0);
    EXPECT_EQ(received, int64_t{kProducers} * kPerProducer);
}

}  // namespace
}  // namespace crib::maps
