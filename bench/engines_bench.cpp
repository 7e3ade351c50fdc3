// Engines against native code: the same C kernels (bpf/kernels.h) compiled
// natively and by clang -target bpf, timed in one process. Prints a ratio
// table after Google Benchmark's own output.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstring>
#include <map>
#include <string>

#include "kernels.h"
#include "progs/helpers.hpp"
#include "runtime/runtime.hpp"

namespace {

using crib::runtime::LoadedObject;

std::unique_ptr<LoadedObject> g_object;

bench_ctx make_ctx() {
    bench_ctx ctx{};
    ctx.len = BENCH_DATA_SIZE;
    for (unsigned i = 0; i < BENCH_DATA_SIZE; ++i) ctx.data[i] = static_cast<unsigned char>(i * 131 + 7);
    return ctx;
}

// Native twins of the helper and map benchmarks: what C++ code calling the
// same helper implementation and map directly pays.
uint64_t native_helper_calls(bench_ctx*) {
    auto fn = crib::progs::find_helper(crib::progs::helper_id::kGetPrandomU32)->fn;
    uint32_t acc = 0;
    for (int i = 0; i < BENCH_CALLS; ++i) acc += static_cast<uint32_t>(fn(0, 0, 0, 0, 0));
    return acc;
}

template <const char* kMap>
uint64_t native_lookups(bench_ctx*) {
    static crib::maps::Map* map = g_object->find_map(kMap);
    uint64_t acc = 0;
    for (uint32_t i = 0; i < BENCH_CALLS; ++i) {
        uint32_t key = i & 255;
        if (auto* value = static_cast<uint64_t*>(map->lookup_elem(&key))) acc += *value;
    }
    return acc;
}
constexpr char kArray[] = "bench_array";
constexpr char kHash[] = "bench_hash";

struct Case {
    const char* program;
    uint64_t (*native)(bench_ctx*);
};

const Case kCases[] = {
    {"checksum", [](bench_ctx* c) -> uint64_t { return kernel_checksum(c); }},
    {"sieve", [](bench_ctx* c) -> uint64_t { return kernel_sieve(c); }},
    {"fnv", [](bench_ctx* c) -> uint64_t { return static_cast<uint32_t>(kernel_fnv(c)); }},
    {"helper_calls", native_helper_calls},
    {"array_lookups", native_lookups<kArray>},
    {"hash_lookups", native_lookups<kHash>},
};

void run_native(benchmark::State& state, const Case* c) {
    bench_ctx ctx = make_ctx();
    for (auto _ : state) benchmark::DoNotOptimize(c->native(&ctx));
}

void run_engine(benchmark::State& state, const Case* c) {
    bench_ctx ctx = make_ctx();
    const crib::exec::Program* code = g_object->find_program(c->program)->code();
    for (auto _ : state) benchmark::DoNotOptimize(code->run(&ctx));
}

// Collects each run's time per iteration so ratios can be printed at the end.
class RatioReporter : public benchmark::ConsoleReporter {
public:
    void ReportRuns(const std::vector<Run>& runs) override {
        ConsoleReporter::ReportRuns(runs);
        for (const Run& run : runs) m_ns[run.benchmark_name()] = run.GetAdjustedRealTime();
    }
    void print_ratios() const {
        std::printf("\n%-16s %12s %12s %10s\n", "program", "native ns", "interp ns", "interp/x");
        for (const Case& c : kCases) {
            auto native = m_ns.find(std::string("native/") + c.program);
            auto interp = m_ns.find(std::string("interp/") + c.program);
            if (native == m_ns.end() || interp == m_ns.end()) continue;
            std::printf("%-16s %12.1f %12.1f %9.1fx\n", c.program, native->second, interp->second,
                        interp->second / native->second);
        }
    }

private:
    std::map<std::string, double> m_ns;
};

bool results_agree() {
    bool agree = true;
    for (const Case& c : kCases) {
        bench_ctx native_ctx = make_ctx(), bpf_ctx = make_ctx();
        uint64_t expected = c.native(&native_ctx);
        uint64_t got = static_cast<uint32_t>(g_object->find_program(c.program)->code()->run(&bpf_ctx));
        if (std::strcmp(c.program, "helper_calls") == 0) continue;  // random by design
        if (static_cast<uint32_t>(expected) != got) {
            std::fprintf(stderr, "%s: native %#llx, interpreter %#llx\n", c.program,
                         static_cast<unsigned long long>(expected), static_cast<unsigned long long>(got));
            agree = false;
        }
    }
    return agree;
}

}  // namespace

int main(int argc, char** argv) {
    auto loaded = crib::runtime::load_file(std::string(CRIB_BPF_DIR) + "/bench.bpf.o");
    if (!loaded) {
        std::fprintf(stderr, "crib-bench: %s\n", loaded.error().to_string().c_str());
        return 1;
    }
    g_object = std::move(*loaded);
    for (uint32_t key = 0; key < 256; ++key) {
        uint64_t value = key * 3;
        (void)g_object->find_map(kArray)->update(&key, &value, crib::maps::kAny);
        (void)g_object->find_map(kHash)->update(&key, &value, crib::maps::kAny);
    }
    if (!results_agree()) return 1;
    for (const Case& c : kCases) {
        benchmark::RegisterBenchmark((std::string("native/") + c.program).c_str(), run_native, &c);
        benchmark::RegisterBenchmark((std::string("interp/") + c.program).c_str(), run_engine, &c);
    }
    benchmark::Initialize(&argc, argv);
    RatioReporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    reporter.print_ratios();
    benchmark::Shutdown();
    return 0;
}
