// prog_array: fd resolution, handle lifetime, kernel error codes.
#include <atomic>
#include <thread>
#include <vector>

#include "map_test_util.hpp"

namespace crib::maps {
namespace {

using test::code_of;
using test::make_map;
using test::spec_of;

struct FakeProg {
    uint32_t id;
};

// fds 10..19 are programs with id fd + 1000.
std::shared_ptr<const void> resolve(uint32_t fd) {
    if (fd < 10 || fd >= 20) return nullptr;
    return std::make_shared<FakeProg>(FakeProg{fd + 1000});
}
uint32_t id_of(const void* handle) {
    return static_cast<const FakeProg*>(handle)->id;
}

TEST(ProgArray, NeedsAResolver) {
    auto map = make_map(spec_of(MapType::ProgArray, 4, 4, 4));
    ASSERT_TRUE(map);
    uint32_t key = 0, fd = 10;
    EXPECT_EQ(code_of(map->update(&key, &fd, kAny)), EINVAL);
    set_prog_resolver(*map, resolve);
    EXPECT_TRUE(map->update(&key, &fd, kAny).ok());
    uint32_t id;
    EXPECT_EQ(code_of(map->lookup(&key, &id)), EOPNOTSUPP);  // no id source given
}

TEST(ProgArray, UpdateLookupDelete) {
    auto map = make_map(spec_of(MapType::ProgArray, 4, 4, 4, 0, "jmp_table"));
    ASSERT_TRUE(map);
    set_prog_resolver(*map, resolve, id_of);
    uint32_t key = 1, fd = 12, id = 0;
    EXPECT_EQ(prog_array_get(*map, 1), nullptr);
    EXPECT_EQ(code_of(map->lookup(&key, &id)), ENOENT);
    ASSERT_TRUE(map->update(&key, &fd, kAny).ok());
    const void* handle = prog_array_get(*map, 1);
    ASSERT_NE(handle, nullptr);
    EXPECT_EQ(static_cast<const FakeProg*>(handle)->id, 1012u);
    ASSERT_TRUE(map->lookup(&key, &id).ok());
    EXPECT_EQ(id, 1012u);  // the kernel answers the program id, not the fd

    EXPECT_EQ(code_of(map->update(&key, &fd, kNoExist)), EINVAL);  // BPF_ANY only
    EXPECT_EQ(code_of(map->update(&key, &fd, kExist)), EINVAL);
    fd = 3;
    auto bad = map->update(&key, &fd, kAny);
    EXPECT_EQ(code_of(bad), EBADF);
    EXPECT_NE(bad.error().message().find("jmp_table"), std::string::npos);
    EXPECT_EQ(prog_array_get(*map, 1), handle);  // a failed update leaves the slot

    key = 4;
    fd = 12;
    EXPECT_EQ(code_of(map->update(&key, &fd, kAny)), E2BIG);
    EXPECT_EQ(code_of(map->remove(&key)), E2BIG);
    EXPECT_EQ(code_of(map->lookup(&key, &id)), ENOENT);
    EXPECT_EQ(prog_array_get(*map, 4), nullptr);
    EXPECT_EQ(prog_array_get(*map, uint64_t{1} << 40), nullptr);

    key = 1;
    EXPECT_TRUE(map->remove(&key).ok());
    EXPECT_EQ(prog_array_get(*map, 1), nullptr);
    EXPECT_EQ(code_of(map->remove(&key)), ENOENT);

    uint32_t next;
    ASSERT_TRUE(map->next_key(nullptr, &next).ok());
    EXPECT_EQ(next, 0u);
    key = 3;
    EXPECT_EQ(code_of(map->next_key(&key, &next)), ENOENT);

    // Program-side element ops are not for prog arrays.
    EXPECT_EQ(map->lookup_elem(&key), nullptr);
    EXPECT_EQ(map->update_elem(&key, &fd, kAny), -EOPNOTSUPP);
    EXPECT_EQ(map->delete_elem(&key), -EOPNOTSUPP);
}

TEST(ProgArray, SlotKeepsHandleAlive) {
    auto map = make_map(spec_of(MapType::ProgArray, 4, 4, 2));
    ASSERT_TRUE(map);
    std::weak_ptr<const void> weak;
    set_prog_resolver(*map, [&](uint32_t) {
        auto handle = std::make_shared<FakeProg>(FakeProg{7});
        weak = handle;
        return std::shared_ptr<const void>(handle);
    });
    uint32_t key = 0, fd = 1;
    ASSERT_TRUE(map->update(&key, &fd, kAny).ok());
    EXPECT_FALSE(weak.expired());
    // Even after delete a program may still be running it: kept until the
    // map goes.
    ASSERT_TRUE(map->remove(&key).ok());
    EXPECT_FALSE(weak.expired());
    map.reset();
    EXPECT_TRUE(weak.expired());
}

TEST(ProgArray, ClearDropsSlotsAndRetiredHandles) {
    auto map = make_map(spec_of(MapType::ProgArray, 4, 4, 2));
    ASSERT_TRUE(map);
    std::vector<std::weak_ptr<const void>> handles;
    set_prog_resolver(*map, [&](uint32_t) {
        auto handle = std::make_shared<FakeProg>(FakeProg{7});
        handles.push_back(handle);
        return std::shared_ptr<const void>(handle);
    });
    uint32_t key = 0, fd = 1;
    ASSERT_TRUE(map->update(&key, &fd, kAny).ok());
    ASSERT_TRUE(map->update(&key, &fd, kAny).ok());  // the first is retired
    key = 1;
    ASSERT_TRUE(map->update(&key, &fd, kAny).ok());
    prog_array_clear(*map);
    EXPECT_EQ(prog_array_get(*map, 0), nullptr);
    EXPECT_EQ(prog_array_get(*map, 1), nullptr);
    for (const auto& handle : handles) EXPECT_TRUE(handle.expired());
    EXPECT_EQ(code_of(map->remove(&key)), ENOENT);
}

TEST(ProgArray, NonProgArrayMapsAreIgnored) {
    auto map = make_map(spec_of(MapType::Array, 4, 4, 2));
    ASSERT_TRUE(map);
    set_prog_resolver(*map, resolve);
    EXPECT_EQ(prog_array_get(*map, 0), nullptr);
}

TEST(ProgArray, ConcurrentUpdatesAndReads) {
    auto map = make_map(spec_of(MapType::ProgArray, 4, 4, 8));
    ASSERT_TRUE(map);
    set_prog_resolver(*map, resolve, id_of);
    std::atomic<bool> stop{false};
    std::atomic<int> bad{0};
    std::vector<std::thread> readers;
    for (int t = 0; t < 4; ++t) {
        readers.emplace_back([&] {
            while (!stop.load()) {
                for (uint64_t i = 0; i < 8; ++i) {
                    auto* prog = static_cast<const FakeProg*>(prog_array_get(*map, i));
                    if (prog && (prog->id < 1010 || prog->id >= 1020)) ++bad;
                }
            }
        });
    }
    std::vector<std::thread> writers;
    for (int t = 0; t < 2; ++t) {
        writers.emplace_back([&, t] {
            for (uint32_t round = 0; round < 2000; ++round) {
                uint32_t key = (round + t) % 8, fd = 10 + round % 10;
                if (!map->update(&key, &fd, kAny).ok()) ++bad;
                if (round % 5 == 0) (void)map->remove(&key);
            }
        });
    }
    for (auto& w : writers) w.join();
    stop = true;
    for (auto& r : readers) r.join();
    EXPECT_EQ(bad.load(), 0);
}

}  // namespace
}  // namespace crib::maps
