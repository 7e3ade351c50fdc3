// crib-bench-verifier: how long crib's verifier takes per program, next to
// the running kernel's verifier on the same code.
//  - shipped: every program of every clang-built object in the build's bpf
//    directory; the kernel column loads that one program with libbpf
//    (bpf_object__load, so it includes libbpf's relocation and map
//    creation) where the kernel accepts it.
//  - generated: large programs of random safe blocks (bounds-checked map
//    accesses, stack traffic, helper calls, diamonds); the kernel column is
//    bpf_prog_load of the same instructions with real maps.
//  - soundness: programs tried by the generator, every accepted one run on
//    the interpreter (the count the issue asks the benchmark to report).
// Times are the median of several runs, in microseconds; crib_insn and
// kern_insn are the insns each verifier processed (the kernel's
// verified_insns from bpf_prog_info). The loop rows (bench*.bpf.o sieve,
// checksum, fnv) are clang -O2 bounded loops. CRIB_BENCH_ONLY=text runs the
// rows whose name contains it.
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "../../fuzz/verifier/soundness.hpp"
#include "isa/encoding.hpp"
#include "object/object.hpp"
#include "progs/prog_types.hpp"
#include "verifier/test_kfuncs.hpp"
#include "verifier/verifier.hpp"

namespace crib {
namespace {

constexpr int kRuns = 5;
// A program whose runs add up to this many microseconds is not run again.
constexpr double kEnoughUs = 2e6;

double median_us(const std::function<void()>& work, int runs = kRuns) {
    std::vector<double> times;
    double total = 0;
    for (int i = 0; i < runs && total < kEnoughUs; ++i) {
        auto start = std::chrono::steady_clock::now();
        work();
        times.push_back(
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
                .count());
        total += times.back();
    }
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
}

struct Row {
    std::string name;
    size_t insns = 0;
    std::string crib;  // time or the refusal
    uint64_t crib_insns = 0;
    std::string kernel;
    uint32_t kernel_insns = 0;
};

// CRIB_BENCH_ONLY=text: only the rows whose name contains it.
bool wanted(const std::string& name) {
    const char* only = getenv("CRIB_BENCH_ONLY");
    return !only || name.find(only) != std::string::npos;
}

void print(const Row& row) {
    printf("%-44s %6zu %12s %9lu %12s %9u\n", row.name.c_str(), row.insns, row.crib.c_str(),
           static_cast<unsigned long>(row.crib_insns), row.kernel.c_str(), row.kernel_insns);
}

std::string us(double value) {
    char text[32];
    snprintf(text, sizeof text, "%.1f", value);
    return text;
}

std::optional<Row> crib_row(const std::string& name, std::span<const isa::Insn> insns,
                            const progs::ProgTypeInfo& type,
                            std::span<const verifier::MapInfo> maps,
                            const object::Program* source) {
    Row row{name, insns.size()};
    verifier::VerifyInput input{insns, type, maps, source};
    auto first = verifier::verify(input);
    if (!first) {
        row.crib = "refused";
        return row;
    }
    row.crib_insns = first->insns_processed;
    row.crib = us(median_us([&] { (void)verifier::verify(input); }));
    return row;
}

// The kernel verifying one program of an object: libbpf loads only it.
void kernel_object_column(Row& row, const std::string& path, const std::string& program) {
    double best = 0;
    for (int run = 0; run < kRuns; ++run) {
        bpf_object* obj = bpf_object__open_file(path.c_str(), nullptr);
        if (!obj) {
            row.kernel = "no libbpf";
            return;
        }
        bpf_program* wanted = nullptr;
        bpf_program* prog;
        bpf_object__for_each_program(prog, obj) {
            bool match = program == bpf_program__name(prog);
            bpf_program__set_autoload(prog, match);
            if (match) wanted = prog;
        }
        auto start = std::chrono::steady_clock::now();
        int err = wanted ? bpf_object__load(obj) : -ENOENT;
        double took =
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
                .count();
        if (err) {
            row.kernel = "refused";
            bpf_object__close(obj);
            return;
        }
        bpf_prog_info info{};
        uint32_t len = sizeof info;
        if (bpf_obj_get_info_by_fd(bpf_program__fd(wanted), &info, &len) == 0)
            row.kernel_insns = info.verified_insns;
        bpf_object__close(obj);
        best = run == 0 ? took : std::min(best, took);
    }
    row.kernel = us(best);
}

void shipped() {
    for (const auto& entry : std::filesystem::directory_iterator(CRIB_BPF_DIR)) {
        const std::string path = entry.path().string();
        if (!path.ends_with(".bpf.o")) continue;
        object::LoadOptions load_options;
        load_options.core_against_self = true;
        auto object = object::load_object_file(path, load_options);
        if (!object) continue;
        std::vector<verifier::MapInfo> maps;
        for (const object::MapDef& def : object->maps)
            maps.push_back(verifier::MapInfo{
                maps::MapSpec{static_cast<maps::MapType>(def.type), def.key_size, def.value_size,
                              def.max_entries, def.map_flags, def.name}});
        for (const object::Program& program : object->programs) {
            const progs::ProgTypeInfo* type = progs::prog_type_for_section(program.section);
            const std::string name = entry.path().filename().string() + "/" + program.name;
            if (!type || !wanted(name)) continue;
            auto row = crib_row(name, program.insns, *type, maps, &program);
            kernel_object_column(*row, path, program.name);
            print(*row);
        }
    }
}

// bpf_prog_load of generated code, its map indexes turned into kernel maps.
void kernel_generated_column(Row& row, const fuzz::GeneratedProgram& program) {
    std::vector<int> fds;
    for (const maps::MapSpec& spec : program.maps) {
        int fd = bpf_map_create(static_cast<bpf_map_type>(spec.type), spec.name.c_str(),
                                spec.key_size, spec.value_size, spec.max_entries, nullptr);
        if (fd < 0) {
            row.kernel = "no maps";
            for (int open : fds) close(open);
            return;
        }
        fds.push_back(fd);
    }
    std::vector<isa::enc::RawInsn> raw = isa::encode(program.insns);
    for (size_t pc = 0; pc < program.insns.size(); ++pc)
        if (program.insns[pc].op == isa::Op::lddw_map_idx) {
            raw[pc].src = isa::enc::kPseudoMapFd;
            raw[pc].imm = fds.at(static_cast<size_t>(program.insns[pc].imm));
        }
    double best = 0;
    for (int run = 0; run < kRuns; ++run) {
        auto start = std::chrono::steady_clock::now();
        // The kernel loads syscall programs only as sleepable ones.
        LIBBPF_OPTS(bpf_prog_load_opts, opts, .prog_flags = BPF_F_SLEEPABLE);
        int fd = bpf_prog_load(BPF_PROG_TYPE_SYSCALL, "generated", "GPL",
                               reinterpret_cast<const bpf_insn*>(raw.data()), raw.size(), &opts);
        double took =
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
                .count();
        if (fd < 0) {
            row.kernel = "refused";
            break;
        }
        bpf_prog_info info{};
        uint32_t len = sizeof info;
        if (bpf_obj_get_info_by_fd(fd, &info, &len) == 0) row.kernel_insns = info.verified_insns;
        close(fd);
        best = run == 0 ? took : std::min(best, took);
        row.kernel = us(best);
    }
    for (int fd : fds) close(fd);
}

// A large program both verifiers accept: after a map lookup, `blocks`
// blocks drawn from bounds-checked map reads and writes, stack traffic,
// helper calls and arithmetic, each ending in a branch the next joins.
fuzz::GeneratedProgram large_program(uint64_t seed, int blocks) {
    using isa::Op;
    fuzz::Draw draw(seed);
    fuzz::GeneratedProgram out;
    out.maps.push_back(maps::MapSpec{maps::MapType::Array, 4, 64, 1, 0, "values"});
    auto& code = out.insns;
    auto emit = [&](isa::Insn insn) { code.push_back(insn); };
    emit(isa::make(Op::ldxw, 7, 1, 0));
    emit(isa::make(Op::stw, 10, 0, -4, 0));
    emit(isa::make(Op::lddw_map_idx, 1, 0, 0, 0));
    emit(isa::make(Op::lddw_tail));
    emit(isa::make(Op::mov64_reg, 2, 10));
    emit(isa::make(Op::add64_imm, 2, 0, 0, -4));
    emit(isa::make(Op::call, 0, 0, 0, 1));
    emit(isa::make(Op::jne64_imm, 0, 0, 2, 0));
    emit(isa::make(Op::mov64_imm, 0, 0, 0, 0));
    emit(isa::make(Op::exit));
    emit(isa::make(Op::mov64_reg, 6, 0));
    for (int off = -64; off < -8; off += 8)
        emit(isa::make(Op::stdw, 10, 0, static_cast<int16_t>(off), 0));
    for (int b = 0; b < blocks; ++b) {
        switch (draw.below(4)) {
            case 0:  // bounds-checked read and write of the map value
                emit(isa::make(Op::jgt64_imm, 7, 0, 4, draw.range(0, 56)));
                emit(isa::make(Op::mov64_reg, 1, 6));
                emit(isa::make(Op::add64_reg, 1, 7));
                emit(isa::make(Op::ldxdw, 8, 1, 0));
                emit(isa::make(Op::stxb, 1, 8, 7));
                break;
            case 1:  // stack traffic
                emit(isa::make(Op::stxdw, 10, 7, static_cast<int16_t>(-8 * draw.range(2, 8))));
                emit(isa::make(Op::ldxdw, 8, 10, static_cast<int16_t>(-8 * draw.range(2, 8))));
                emit(isa::make(Op::add64_reg, 7, 8));
                break;
            case 2:  // a helper
                emit(isa::make(Op::call, 0, 0, 0, 7));
                emit(isa::make(Op::mov64_reg, 7, 0));
                break;
            default:  // a diamond whose sides differ only in a dead register
                emit(isa::make(Op::jset64_imm, 7, 0, 1, draw.range(1, 255)));
                emit(isa::make(Op::mov64_imm, 8, 0, 0, draw.range(0, 99)));
                emit(isa::make(Op::and64_imm, 7, 0, 0, draw.range(1, 4095)));
                break;
        }
    }
    emit(isa::make(Op::mov64_imm, 0, 0, 0, 0));
    emit(isa::make(Op::exit));
    return out;
}

void generated() {
    const progs::ProgTypeInfo& type = *progs::prog_type(progs::ProgType::Syscall);
    for (int blocks : {100, 250, 500}) {
        if (!wanted("generated " + std::to_string(blocks) + " blocks")) continue;
        fuzz::GeneratedProgram program = large_program(static_cast<uint64_t>(blocks), blocks);
        std::vector<verifier::MapInfo> maps;
        for (const maps::MapSpec& spec : program.maps) maps.push_back(verifier::MapInfo{spec});
        auto row = crib_row("generated " + std::to_string(blocks) + " blocks", program.insns, type,
                            maps, nullptr);
        kernel_generated_column(*row, program);
        print(*row);
    }
}

void soundness(uint64_t count) {
    fuzz::SoundnessStats stats;
    auto took = median_us(
        [&] {
            for (uint64_t seed = 1; seed <= count; ++seed) {
                fuzz::Draw draw(seed * 7919);
                fuzz::GeneratedProgram program = fuzz::ProgramGen(draw).generate();
                if (auto failure = fuzz::check_soundness(program, draw, stats)) {
                    printf("soundness failure, seed %lu: %s\n",
                           static_cast<unsigned long>(seed * 7919), failure->c_str());
                    return;
                }
            }
        },
        1);
    printf(
        "soundness: %lu programs tried, %lu accepted and run %lu times on the interpreter, "
        "no fault, %.0f ms\n",
        static_cast<unsigned long>(stats.tried), static_cast<unsigned long>(stats.accepted),
        static_cast<unsigned long>(stats.runs), took / 1000);
}

}  // namespace
}  // namespace crib

int main(int argc, char** argv) {
    setvbuf(stdout, nullptr, _IOLBF, 0);
    libbpf_set_print(nullptr);
    crib::verifier::test::register_test_kfuncs();
    uint64_t soundness_programs = argc > 1 ? std::stoull(argv[1]) : 1000;
    printf("%-44s %6s %12s %9s %12s %9s\n", "program", "insns", "crib_us", "crib_insn", "kernel_us",
           "kern_insn");
    // CRIB_BENCH_VERIFIER=generated (or shipped) runs one part.
    std::string only = getenv("CRIB_BENCH_VERIFIER") ? getenv("CRIB_BENCH_VERIFIER") : "";
    if (only.empty() || only == "shipped") crib::shipped();
    if (only.empty() || only == "generated") crib::generated();
    crib::soundness(soundness_programs);
    return 0;
}
