// Every BPF program crib ships must pass the verifier: the demo, the test
// objects the runtime loads and the benchmark programs.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>

#include "object/object.hpp"
#include "progs/prog_types.hpp"
#include "verifier/test_kfuncs.hpp"
#include "verifier/verifier.hpp"

namespace crib::verifier {
namespace {

struct Shipped {
    const char* object;
    const char* program;
    // Non-empty for a program the verifier refuses on purpose, with why.
    const char* refusal = "";
};

const Shipped kShipped[] = {
    {"demo.bpf.o", "count_words"},
    {"object_calls.bpf.o", "run_crib"},
    {"object_calls.bpf.o", "walk_tasks"},
    {"object_calls.bpf.o", "plain"},
    {"object_maps.bpf.o", "count_packets"},
    {"object_maps.bpf.o", "emit"},
    {"object_core.bpf.o", "read_point"},
    {"object_core.bpf.o", "maybe_missing"},
    {"parity.bpf.o", "alu_and_calls"},
    {"parity.bpf.o", "hash_ops"},
    {"parity.bpf.o", "lru_and_arrays"},
    {"parity.bpf.o", "loops"},
    {"parity.bpf.o", "ringbuf"},
    {"bench.bpf.o", "checksum"},
    {"bench.bpf.o", "sieve"},
    {"bench.bpf.o", "fnv"},
    {"bench.bpf.o", "helper_calls"},
    {"bench.bpf.o", "array_lookups"},
    {"bench.bpf.o", "hash_lookups"},
    {"verifier_iter.bpf.o", "squares_to_ringbuf"},
    {"verifier_xdp.bpf.o", "count_protocols"},
    {"bench_xdp.bpf.o", "checksum"},
    {"bench_xdp.bpf.o", "hash_lookups"},
};

Result<VerifyResult> verify_shipped(const Shipped& shipped) {
    test::register_test_kfuncs();
    object::LoadOptions load_options;
    load_options.core_against_self = true;
    auto object = CRIB_TRY(
        object::load_object_file(std::string(CRIB_BPF_DIR) + "/" + shipped.object, load_options));
    const object::Program* program = object.find_program(shipped.program);
    if (!program) return make_error(ENOENT, "no program {}", shipped.program);
    const progs::ProgTypeInfo* type = progs::prog_type_for_section(program->section);
    if (!type) return make_error(EINVAL, "no type for {}", program->section);
    std::vector<MapInfo> maps;
    for (const object::MapDef& def : object.maps)
        maps.push_back(
            MapInfo{maps::MapSpec{static_cast<maps::MapType>(def.type), def.key_size,
                                  def.value_size, def.max_entries, def.map_flags, def.name}});
    VerifyInput input{program->insns, *type, maps, program};
    VerifyOptions options;
    // CRIB_VERIFIER_LOG=1 prints the walk, for debugging a refusal.
    if (getenv("CRIB_VERIFIER_LOG")) {
        options.log_all = true;
        options.log = [](LogLevel, std::string_view line) {
            fprintf(stderr, "%.*s\n", int(line.size()), line.data());
        };
    }
    return verify(input, options);
}

class ShippedTest : public ::testing::TestWithParam<Shipped> {};

TEST_P(ShippedTest, Verifies) {
    auto result = verify_shipped(GetParam());
    if (*GetParam().refusal) {
        ASSERT_FALSE(result.ok());
        EXPECT_NE(result.error().message().find(GetParam().refusal), std::string::npos)
            << result.error().message();
        return;
    }
    ASSERT_TRUE(result.ok()) << result.error().to_string();
    EXPECT_GT(result->insns_processed, 0u);
}

INSTANTIATE_TEST_SUITE_P(All, ShippedTest, ::testing::ValuesIn(kShipped), [](const auto& info) {
    std::string name = std::string(info.param.object) + "_" + info.param.program;
    for (char& c : name)
        if (!isalnum(static_cast<unsigned char>(c))) c = '_';
    return name;
});

}  // namespace
}  // namespace crib::verifier
