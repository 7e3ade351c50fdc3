// Engines against native code: the same C kernels (bpf/kernels.h) compiled
// natively and by clang -target bpf, timed in one process on the
// interpreter and on the JIT. Prints a ratio table after Google Benchmark's
// own output.
//
// The Linux kernel's JIT is not timed here: these are SEC("syscall")
// programs, and BPF_PROG_TEST_RUN refuses `repeat` for that type
// (bpf_prog_test_run_syscall in net/bpf/test_run.c); timing it means loading
// the kernels as XDP with libbpf, which needs CAP_BPF.
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

// One load per engine; each has its own maps, filled alike. g_object (the
// interpreter's) also serves the native map benchmarks.
std::unique_ptr<LoadedObject> g_object;
std::unique_ptr<LoadedObject> g_jit_object;

bench_ctx make_ctx() {
    bench_ctx ctx{};
    ctx.len = BENCH_DATA_SIZE;
    for (unsigned i = 0; i < BENCH_DATA_SIZE; ++i)
        ctx.data[i] = static_cast<unsigned char>(i * 131 + 7);
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

void run_engine(benchmark::State& state, const LoadedObject* object, const Case* c) {
    bench_ctx ctx = make_ctx();
    const crib::exec::Program* code = object->find_program(c->program)->code();
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
        std::printf("\n%-16s %11s %11s %11s %10s %10s %10s\n", "program", "native ns", "interp ns",
                    "jit ns", "interp/x", "jit/x", "jit/interp");
        for (const Case& c : kCases) {
            const double native = time_of("native/", c), interp = time_of("interp/", c);
            const double jit = time_of("jit/", c);
            if (native <= 0 || interp <= 0) continue;
            std::printf("%-16s %11.1f %11.1f", c.program, native, interp);
            if (jit > 0)
                std::printf(" %11.1f %9.2fx %9.2fx %9.2fx\n", jit, interp / native, jit / native,
                            jit / interp);
            else
                std::printf(" %11s %9.2fx %10s %10s\n", "-", interp / native, "-", "-");
        }
    }

private:
    double time_of(const char* engine, const Case& c) const {
        auto found = m_ns.find(std::string(engine) + c.program);
        return found == m_ns.end() ? 0 : found->second;
    }

    std::map<std::string, double> m_ns;
};

bool results_agree(const LoadedObject& object, const char* engine) {
    bool agree = true;
    for (const Case& c : kCases) {
        if (std::strcmp(c.program, "helper_calls") == 0) continue;  // random by design
        bench_ctx native_ctx = make_ctx(), bpf_ctx = make_ctx();
        uint64_t expected = c.native(&native_ctx);
        uint64_t got = static_cast<uint32_t>(object.find_program(c.program)->code()->run(&bpf_ctx));
        if (static_cast<uint32_t>(expected) != got) {
            std::fprintf(stderr, "%s: native %#llx, %s %#llx\n", c.program,
                         static_cast<unsigned long long>(expected), engine,
                         static_cast<unsigned long long>(got));
            agree = false;
        }
    }
    return agree;
}

void fill_maps(LoadedObject& object) {
    for (uint32_t key = 0; key < 256; ++key) {
        uint64_t value = key * 3;
        (void)object.find_map(kArray)->update(&key, &value, crib::maps::kAny);
        (void)object.find_map(kHash)->update(&key, &value, crib::maps::kAny);
    }
}

}  // namespace

int main(int argc, char** argv) {
    const std::string path = std::string(CRIB_BPF_DIR) + "/bench.bpf.o";
    auto loaded = crib::runtime::load_file(path, {.engine = crib::runtime::Engine::Interp});
    if (!loaded) {
        std::fprintf(stderr, "crib-bench: %s\n", loaded.error().to_string().c_str());
        return 1;
    }
    g_object = std::move(*loaded);
    fill_maps(*g_object);
    if (!results_agree(*g_object, "interpreter")) return 1;
    auto jit = crib::runtime::load_file(path, {.engine = crib::runtime::Engine::Jit});
    if (!jit) {
        std::fprintf(stderr, "crib-bench: %s\n", jit.error().to_string().c_str());
        return 1;
    }
    g_jit_object = std::move(*jit);
    fill_maps(*g_jit_object);
    if (!results_agree(*g_jit_object, "jit")) return 1;
    for (const Case& c : kCases) {
        benchmark::RegisterBenchmark((std::string("native/") + c.program).c_str(), run_native, &c);
        benchmark::RegisterBenchmark((std::string("interp/") + c.program).c_str(), run_engine,
                                     g_object.get(), &c);
        benchmark::RegisterBenchmark((std::string("jit/") + c.program).c_str(), run_engine,
                                     g_jit_object.get(), &c);
    }
    benchmark::Initialize(&argc, argv);
    RatioReporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    reporter.print_ratios();
    benchmark::Shutdown();
    return 0;
}
