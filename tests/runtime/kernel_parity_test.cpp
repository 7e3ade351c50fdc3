// The same clang-built object runs in crib and in the running Linux kernel
// (syscall programs through BPF_PROG_TEST_RUN, loaded with libbpf); return
// values, map contents and ringbuf records must agree after every run.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "maps/ringbuf.hpp"
#include "runtime/runtime.hpp"

namespace crib::runtime {
namespace {

struct ParityCtx {
    uint64_t seed;
    uint32_t count;
    uint32_t flags;
};

using Bytes = std::vector<uint8_t>;
// A map's contents in an order both sides share: sorted (key, value) pairs.
// Per-CPU values are summed over CPUs (u64 cells), since the CPU a run lands
// on is not ours to choose.
using Contents = std::vector<std::pair<Bytes, Bytes>>;

struct State {
    uint32_t retval = 0;
    std::map<std::string, Contents> maps;
    std::vector<Bytes> records;
};

Bytes fold_per_cpu(const uint8_t* value, size_t value_size, size_t cpus) {
    size_t stride = (value_size + 7) / 8 * 8;
    Bytes folded(value_size);
    for (size_t off = 0; off + 8 <= value_size; off += 8) {
        uint64_t sum = 0;
        for (size_t cpu = 0; cpu < cpus; ++cpu) {
            uint64_t cell;
            std::memcpy(&cell, value + cpu * stride + off, 8);
            sum += cell;
        }
        std::memcpy(folded.data() + off, &sum, 8);
    }
    return folded;
}

// Global-data maps: libbpf names them "<obj>.bss", crib by section (".bss").
std::string common_name(std::string name) {
    auto dot = name.find('.');
    return dot == std::string::npos ? name : name.substr(dot);
}

bool on_ci() {
    return std::getenv("CI") != nullptr;
}

class KernelSide {
public:
    ~KernelSide() {
        if (m_ring) ring_buffer__free(m_ring);
        if (m_object) bpf_object__close(m_object);
    }

    // 0 on success, else the errno; `why` says what failed.
    int load(const std::string& path, std::string& why) {
        m_object = bpf_object__open_file(path.c_str(), nullptr);
        if (!m_object) {
            why = "libbpf could not open " + path;
            return errno;
        }
        if (int err = bpf_object__load(m_object)) {
            why =
                "the kernel refused the object (its log is above): " + std::string(strerror(-err));
            return -err;
        }
        bpf_map* map;
        bpf_object__for_each_map(map, m_object) {
            if (bpf_map__type(map) == BPF_MAP_TYPE_RINGBUF)
                m_ring = ring_buffer__new(bpf_map__fd(map), on_record, &m_records, nullptr);
        }
        return 0;
    }

    State run(const std::string& prog_name, const ParityCtx& ctx) {
        State state;
        bpf_program* prog = bpf_object__find_program_by_name(m_object, prog_name.c_str());
        EXPECT_NE(prog, nullptr) << prog_name;
        if (!prog) return state;
        ParityCtx copy = ctx;
        LIBBPF_OPTS(bpf_test_run_opts, opts, .ctx_in = &copy, .ctx_size_in = sizeof(copy));
        EXPECT_EQ(bpf_prog_test_run_opts(bpf_program__fd(prog), &opts), 0) << prog_name;
        state.retval = opts.retval;
        m_records.clear();
        if (m_ring) ring_buffer__consume(m_ring);
        state.records = m_records;
        bpf_map* map;
        bpf_object__for_each_map(map, m_object) {
            if (bpf_map__type(map) == BPF_MAP_TYPE_RINGBUF) continue;
            state.maps[common_name(bpf_map__name(map))] = contents(map);
        }
        return state;
    }

private:
    static int on_record(void* records, void* data, size_t size) {
        auto* bytes = static_cast<uint8_t*>(data);
        static_cast<std::vector<Bytes>*>(records)->emplace_back(bytes, bytes + size);
        return 0;
    }

    Contents contents(bpf_map* map) {
        bool per_cpu = bpf_map__type(map) == BPF_MAP_TYPE_PERCPU_ARRAY ||
                       bpf_map__type(map) == BPF_MAP_TYPE_PERCPU_HASH;
        size_t cpus = per_cpu ? libbpf_num_possible_cpus() : 1;
        size_t value_size = bpf_map__value_size(map);
        Bytes key(bpf_map__key_size(map)), next(key.size());
        Bytes value(per_cpu ? (value_size + 7) / 8 * 8 * cpus : value_size);
        Contents out;
        const void* cursor = nullptr;
        while (bpf_map_get_next_key(bpf_map__fd(map), cursor, next.data()) == 0) {
            key = next;
            cursor = key.data();
            if (bpf_map_lookup_elem(bpf_map__fd(map), key.data(), value.data()) != 0) continue;
            out.emplace_back(key, per_cpu ? fold_per_cpu(value.data(), value_size, cpus) : value);
        }
        std::sort(out.begin(), out.end());
        return out;
    }

    bpf_object* m_object = nullptr;
    ring_buffer* m_ring = nullptr;
    std::vector<Bytes> m_records;
};

class CribSide {
public:
    explicit CribSide(Engine engine) : m_engine(engine) {}

    std::string load(const std::string& path) {
        auto loaded = load_file(path, {.engine = m_engine});
        if (!loaded) return loaded.error().to_string();
        m_object = std::move(*loaded);
        return "";
    }

    State run(const std::string& prog_name, const ParityCtx& ctx) {
        State state;
        Prog* prog = m_object->find_program(prog_name);
        EXPECT_NE(prog, nullptr) << prog_name;
        if (!prog) return state;
        progs::TestRunAttr attr;
        attr.ctx_in = std::span(reinterpret_cast<const uint8_t*>(&ctx), sizeof(ctx));
        auto result = prog->test_run(attr);
        EXPECT_TRUE(result) << result.error().to_string();
        if (!result) return state;
        state.retval = result->retval;
        for (const MapEntry& entry : m_object->maps()) {
            if (entry.map->type() == maps::MapType::Ringbuf) {
                auto consumer =
                    maps::RingbufConsumer::create(*entry.map, [&](std::span<const uint8_t> record) {
                        state.records.emplace_back(record.begin(), record.end());
                        return 0;
                    });
                EXPECT_TRUE(consumer);
                if (consumer) consumer->consume();
                continue;
            }
            state.maps[entry.name] = contents(*entry.map);
        }
        return state;
    }

private:
    Contents contents(const maps::Map& map) {
        const maps::MapSpec& spec = map.spec();
        bool per_cpu =
            spec.type == maps::MapType::PercpuArray || spec.type == maps::MapType::PercpuHash;
        Bytes key(spec.key_size), next(spec.key_size), value(map.user_value_size());
        Contents out;
        const void* cursor = nullptr;
        while (map.next_key(cursor, next.data())) {
            key = next;
            cursor = key.data();
            if (!map.lookup(key.data(), value.data())) continue;
            out.emplace_back(
                key, per_cpu ? fold_per_cpu(value.data(), spec.value_size, maps::possible_cpus())
                             : value);
        }
        std::sort(out.begin(), out.end());
        return out;
    }

    Engine m_engine;
    std::unique_ptr<LoadedObject> m_object;
};

class KernelParity : public ::testing::TestWithParam<Engine> {};
INSTANTIATE_TEST_SUITE_P(Engines, KernelParity, ::testing::Values(Engine::Interp, Engine::Jit),
                         [](const auto& info) {
                             return info.param == Engine::Jit ? "jit" : "interp";
                         });

TEST_P(KernelParity, ParityProgramsAgreeWithTheKernel) {
    const std::string path = std::string(CRIB_BPF_DIR) + "/parity.bpf.o";
    KernelSide kernel;
    std::string why;
    if (int err = kernel.load(path, why)) {
        // Only a missing privilege is a reason to skip, and never on CI.
        if ((err == EPERM || err == EACCES) && !on_ci())
            GTEST_SKIP() << "kernel BPF unavailable here (needs root with CAP_BPF): " << why;
        FAIL() << why;
    }
    CribSide crib(GetParam());
    ASSERT_EQ(crib.load(path), "");

    const std::vector<std::pair<std::string, ParityCtx>> runs = {
        {"alu_and_calls", {0x0123456789abcdefULL, 5, 0}},
        {"alu_and_calls", {0xfedcba9876543210ULL, 31, 0}},
        {"alu_and_calls", {7, 0, 0}},
        {"hash_ops", {3, 40, 0}},
        {"hash_ops", {11, 63, 0}},
        {"lru_and_arrays", {5, 9, 0}},
        {"lru_and_arrays", {0x100000001ULL, 2, 0}},
        {"loops", {1, 50, 0}},
        {"loops", {99, 200, 0}},
        {"ringbuf", {1000, 3, 0}},
        {"ringbuf", {2000, 4, 0}},
    };
    for (const auto& [prog, ctx] : runs) {
        SCOPED_TRACE(prog + " seed " + std::to_string(ctx.seed));
        State expected = kernel.run(prog, ctx);
        State got = crib.run(prog, ctx);
        ASSERT_EQ(expected.maps.size(), 7u)
            << "table, recent, slots, per_cpu, .data, .bss, .rodata";
        if (prog == "ringbuf") {
            EXPECT_FALSE(expected.records.empty());
        }
        EXPECT_EQ(got.retval, expected.retval);
        EXPECT_EQ(got.records, expected.records);
        for (const auto& [name, contents] : expected.maps) {
            ASSERT_TRUE(got.maps.count(name)) << "crib has no map " << name;
            EXPECT_EQ(got.maps[name], contents) << "map " << name;
        }
    }
}

}  // namespace
}  // namespace crib::runtime
