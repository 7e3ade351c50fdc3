// Engines against native code: the same C kernels (bpf/kernels.h) compiled
// natively and by clang -target bpf, timed in one process on the
// interpreter and on the JIT. Prints a ratio table after Google Benchmark's
// own output.
//
// The Linux kernel's JIT is the third reference column. BPF_PROG_TEST_RUN
// refuses `repeat` for SEC("syscall") programs (bpf_prog_test_run_syscall in
// net/bpf/test_run.c), so bpf/bench_xdp.bpf.c wraps the same kernels as XDP
// programs over a bench_ctx held in an array map; they are loaded with libbpf
// (needs CAP_BPF) and the column is skipped, with the reason printed, when
// the kernel refuses them.
#include <benchmark/benchmark.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include <algorithm>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <map>
#include <string>
#include <vector>

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

// Runs per BPF_PROG_TEST_RUN call of the kernel column. Large because a call
// with repeat > 1 swaps the program into the XDP dispatcher and back, each an
// RCU grace period (about 10 ms of wall time, outside opts.duration).
constexpr int kKernelRepeat = 1000;

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
        for (const Run& run : runs) {
            if (run.error_occurred) continue;
            // kernel/ iterations are kKernelRepeat runs; ns_per_run is one.
            auto per_run = run.counters.find("ns_per_run");
            std::string name = run.benchmark_name();
            if (auto slash = name.find("/manual_time"); slash != std::string::npos)
                name.erase(slash);
            m_ns[name] =
                per_run != run.counters.end() ? per_run->second.value : run.GetAdjustedRealTime();
        }
    }
    void print_ratios(const std::string& kernel_note) const {
        std::printf("\n%-14s %10s %10s %10s %10s %9s %9s %9s %9s\n", "program", "native ns",
                    "interp ns", "jit ns", "kjit ns", "interp/x", "jit/x", "jit/intp", "jit/kjit");
        for (const Case& c : kCases) {
            const double native = time_of("native/", c), interp = time_of("interp/", c);
            const double jit = time_of("jit/", c), kernel = time_of("kernel/", c);
            if (native <= 0 || interp <= 0) continue;
            std::printf("%-14s %10.1f %10.1f", c.program, native, interp);
            print_ns(jit);
            print_ns(kernel);
            print_ratio(interp, native);
            print_ratio(jit, native);
            print_ratio(jit, interp);
            print_ratio(jit, kernel);
            std::printf("\n");
        }
        std::printf(
            "\nx = native (host compiler, -O2); kjit = the Linux kernel's JIT, XDP programs\n"
            "timed by BPF_PROG_TEST_RUN (repeat=%d): its mean includes the kernel's per-run\n"
            "overhead (xdp_buff setup, roughly tens of ns) that crib's columns do not pay.\n",
            kKernelRepeat);
        if (!kernel_note.empty()) std::printf("kjit: %s\n", kernel_note.c_str());
    }

private:
    static void print_ns(double ns) {
        if (ns > 0)
            std::printf(" %10.1f", ns);
        else
            std::printf(" %10s", "-");
    }
    static void print_ratio(double num, double den) {
        if (num > 0 && den > 0)
            std::printf(" %8.2fx", num / den);
        else
            std::printf(" %9s", "-");
    }
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

// The kernel column: bench_xdp.bpf.o loaded into the running kernel.
class KernelSide {
public:
    struct Prog {
        int prog_fd = -1;
        int buffer_fd = -1;  // the object's xdp_buffer map, holding the bench_ctx
    };

    ~KernelSide() {
        for (bpf_object* object : m_objects) bpf_object__close(object);
    }

    // Loads every program it can; returns why none loaded, or "" if some did.
    // Programs the kernel refuses are named in `refused`.
    std::string load(const std::string& path) {
        std::string why;
        if (load_object(path, nullptr, why)) return "";
        std::fprintf(stderr, "crib-bench: kernel: %s; loading programs one by one\n", why.c_str());
        for (const Case& c : kCases) {
            std::string one_why;
            if (!load_object(path, c.program, one_why)) {
                std::fprintf(stderr, "crib-bench: kernel refused %s: %s\n", c.program,
                             one_why.c_str());
                refused.push_back(c.program);
                why = one_why;
            }
        }
        return m_progs.empty() ? why : "";
    }

    const Prog* find(const char* program) const {
        auto found = m_progs.find(program);
        return found == m_progs.end() ? nullptr : &found->second;
    }

    std::vector<std::string> refused;

private:
    // Opens the object and loads all its programs, or only `only`.
    bool load_object(const std::string& path, const char* only, std::string& why) {
        bpf_object* object = bpf_object__open_file(path.c_str(), nullptr);
        if (!object) {
            why = "libbpf could not open " + path + ": " + std::strerror(errno);
            return false;
        }
        if (only) {
            bpf_program* prog;
            bpf_object__for_each_program(prog, object) {
                bpf_program__set_autoload(prog, std::strcmp(bpf_program__name(prog), only) == 0);
            }
        }
        if (int err = bpf_object__load(object)) {
            why = std::string("bpf_object__load: ") + std::strerror(-err);
            bpf_object__close(object);
            return false;
        }
        if (!fill_kernel_maps(object, why)) {
            bpf_object__close(object);
            return false;
        }
        const int buffer_fd = bpf_object__find_map_fd_by_name(object, "xdp_buffer");
        bpf_program* prog;
        bpf_object__for_each_program(prog, object) {
            if (bpf_program__fd(prog) >= 0)
                m_progs[bpf_program__name(prog)] = {bpf_program__fd(prog), buffer_fd};
        }
        m_objects.push_back(object);
        return true;
    }

    static bool fill_kernel_maps(bpf_object* object, std::string& why) {
        for (const char* name : {"xdp_array", "xdp_hash"}) {
            const int fd = bpf_object__find_map_fd_by_name(object, name);
            for (uint32_t key = 0; key < 256; ++key) {
                uint64_t value = key * 3;
                if (bpf_map_update_elem(fd, &key, &value, BPF_ANY) != 0) {
                    why = std::string("filling ") + name + ": " + std::strerror(errno);
                    return false;
                }
            }
        }
        return true;
    }

    std::vector<bpf_object*> m_objects;
    std::map<std::string, Prog> m_progs;
};

KernelSide g_kernel;

// Runs `prog` `repeat` times on a dummy packet; the kernel's mean ns per run
// lands in *duration_ns. Returns the errno, 0 on success.
int kernel_run(const KernelSide::Prog& prog, int repeat, uint32_t* retval, uint32_t* duration_ns) {
    unsigned char packet[64] = {};
    LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = packet, .data_size_in = sizeof(packet),
                .repeat = repeat);
    if (bpf_prog_test_run_opts(prog.prog_fd, &opts) != 0) return errno;
    *retval = opts.retval;
    *duration_ns = opts.duration;
    return 0;
}

int kernel_set_ctx(const KernelSide::Prog& prog, const bench_ctx& ctx) {
    const uint32_t key = 0;
    return bpf_map_update_elem(prog.buffer_fd, &key, &ctx, BPF_ANY) == 0 ? 0 : errno;
}

// One iteration is kKernelRepeat runs in the kernel; the iteration's time is
// what the kernel measured for them, and the counter "ns_per_run" its mean.
void run_kernel(benchmark::State& state, const KernelSide::Prog* prog) {
    if (int err = kernel_set_ctx(*prog, make_ctx())) {
        state.SkipWithError(std::strerror(err));
        return;
    }
    double total_ns = 0;
    for (auto _ : state) {
        uint32_t retval = 0, duration = 0;
        if (int err = kernel_run(*prog, kKernelRepeat, &retval, &duration)) {
            state.SkipWithError(std::strerror(err));
            break;
        }
        state.SetIterationTime(static_cast<double>(duration) * kKernelRepeat * 1e-9);
        total_ns += duration;
    }
    state.counters["ns_per_run"] = benchmark::Counter(total_ns, benchmark::Counter::kAvgIterations);
}

// Names in `disagree` the kernel programs whose result differs from native
// (or which fail to run); their column stays empty.
bool kernel_results_agree(const KernelSide& kernel, std::vector<std::string>& disagree) {
    for (const Case& c : kCases) {
        const KernelSide::Prog* prog = kernel.find(c.program);
        if (!prog) continue;
        bench_ctx native_ctx = make_ctx();
        const uint64_t expected = c.native(&native_ctx);
        uint32_t got = 0, duration = 0;
        int err = kernel_set_ctx(*prog, make_ctx());
        if (!err) err = kernel_run(*prog, 1, &got, &duration);
        if (err) {
            std::fprintf(stderr, "crib-bench: kernel test run of %s: %s\n", c.program,
                         std::strerror(err));
            disagree.push_back(c.program);
            continue;
        }
        if (std::strcmp(c.program, "helper_calls") == 0) continue;  // random by design
        if (static_cast<uint32_t>(expected) != got) {
            std::fprintf(stderr, "%s: native %#llx, kernel %#x\n", c.program,
                         static_cast<unsigned long long>(expected), got);
            disagree.push_back(c.program);
        }
    }
    return disagree.empty();
}

// libbpf's warnings, with the verifier's log cut to its tail: the log of a
// refused bounded loop runs to megabytes, and its last lines say why.
int libbpf_print(enum libbpf_print_level level, const char* format, va_list args) {
    if (level == LIBBPF_DEBUG) return 0;
    std::va_list copy;
    va_copy(copy, args);
    const int size = std::vsnprintf(nullptr, 0, format, copy);
    va_end(copy);
    if (size <= 0) return size;
    std::string text(static_cast<size_t>(size) + 1, '\0');
    std::vsnprintf(text.data(), text.size(), format, args);
    text.pop_back();
    constexpr size_t kTail = 3000;
    if (text.size() > kTail)
        text = "[... verifier log cut ...]\n" + text.substr(text.size() - kTail);
    return std::fputs(text.c_str(), stderr);
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

    libbpf_set_print(libbpf_print);
    std::string kernel_note;
    std::vector<std::string> disagree;
    if (std::string why = g_kernel.load(std::string(CRIB_BPF_DIR) + "/bench_xdp.bpf.o");
        !why.empty()) {
        kernel_note = "column skipped, the kernel did not load bench_xdp.bpf.o (" + why + ")";
    } else {
        kernel_results_agree(g_kernel, disagree);
        for (const std::string& name : g_kernel.refused)
            kernel_note += (kernel_note.empty() ? "" : "; ") + name + " refused by the verifier";
        for (const std::string& name : disagree)
            kernel_note += (kernel_note.empty() ? "" : "; ") + name + " disagrees with native";
    }
    std::fprintf(stderr, "%s%s", kernel_note.c_str(), kernel_note.empty() ? "" : "\n");

    for (const Case& c : kCases) {
        benchmark::RegisterBenchmark((std::string("native/") + c.program).c_str(), run_native, &c);
        benchmark::RegisterBenchmark((std::string("interp/") + c.program).c_str(), run_engine,
                                     g_object.get(), &c);
        benchmark::RegisterBenchmark((std::string("jit/") + c.program).c_str(), run_engine,
                                     g_jit_object.get(), &c);
        const KernelSide::Prog* prog = g_kernel.find(c.program);
        if (prog && std::find(disagree.begin(), disagree.end(), c.program) == disagree.end())
            benchmark::RegisterBenchmark((std::string("kernel/") + c.program).c_str(), run_kernel,
                                         prog)
                ->UseManualTime();
    }
    benchmark::Initialize(&argc, argv);
    RatioReporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    reporter.print_ratios(kernel_note);
    benchmark::Shutdown();
    return 0;
}
