// The runtime over clang-built objects: references resolved, programs run
// through BPF_PROG_RUN, refusals named.
#include <gtest/gtest.h>

#include <cstring>
#include <set>
#include <string>

#include "maps/ringbuf.hpp"
#include "runtime/runtime.hpp"

namespace crib::runtime {
namespace {

std::string object_path(const std::string& name) {
    return std::string(CRIB_BPF_DIR) + "/" + name;
}

std::unique_ptr<LoadedObject> load_ok(const std::string& name) {
    auto loaded = load_file(object_path(name));
    EXPECT_TRUE(loaded) << loaded.error().to_string();
    return loaded ? std::move(*loaded) : nullptr;
}

uint64_t read_u64(const maps::Map& map, size_t offset) {
    uint32_t key = 0;
    std::vector<uint8_t> value(map.user_value_size());
    EXPECT_TRUE(map.lookup(&key, value.data()));
    uint64_t out;
    std::memcpy(&out, value.data() + offset, sizeof out);
    return out;
}

Result<progs::TestRunResult> run(const Prog& prog, std::span<const uint8_t> ctx = {}) {
    progs::TestRunAttr attr;
    attr.ctx_in = ctx;
    return prog.test_run(attr);
}

struct DemoCtx {
    uint32_t len;
    char text[256];
};

DemoCtx demo_ctx(const char* text) {
    DemoCtx ctx{};
    ctx.len = static_cast<uint32_t>(std::strlen(text));
    std::memcpy(ctx.text, text, ctx.len);
    return ctx;
}

TEST(Runtime, DemoCountsWordsIntoMapsGlobalsAndRingbuf) {
    auto loaded = load_ok("demo.bpf.o");
    ASSERT_TRUE(loaded);
    Prog* prog = loaded->find_program("count_words");
    ASSERT_NE(prog, nullptr);
    EXPECT_EQ(prog->type().name, "syscall");

    DemoCtx ctx = demo_ctx("to be or not to be");
    auto result = run(*prog, {reinterpret_cast<const uint8_t*>(&ctx), sizeof ctx});
    ASSERT_TRUE(result) << result.error().to_string();
    EXPECT_EQ(result->retval, 6u);

    // .bss holds total_words and total_bytes, in the order clang chose.
    const maps::Map* bss = loaded->find_map(".bss");
    ASSERT_NE(bss, nullptr);
    std::set<uint64_t> totals{read_u64(*bss, 0), read_u64(*bss, 8)};
    EXPECT_EQ(totals, (std::set<uint64_t>{6, 18}));

    std::vector<uint32_t> counts;
    auto consumer = maps::RingbufConsumer::create(
        *loaded->find_map("words"), [&](std::span<const uint8_t> record) {
            uint32_t fields[4];
            EXPECT_EQ(record.size(), sizeof fields);
            std::memcpy(fields, record.data(), sizeof fields);
            counts.push_back(fields[3]);
            return 0;
        });
    ASSERT_TRUE(consumer);
    EXPECT_EQ(consumer->consume(), 6);
    EXPECT_EQ(counts, (std::vector<uint32_t>{1, 1, 1, 1, 2, 2}));  // "to" and "be" come back
}

TEST(Runtime, RodataHoldsItsInitialValue) {
    auto loaded = load_ok("demo.bpf.o");
    ASSERT_TRUE(loaded);
    uint32_t key = 0, value = 0;
    ASSERT_TRUE(loaded->find_map(".rodata")->lookup(&key, &value));
    EXPECT_EQ(value, 2166136261u);
}

TEST(Runtime, TailCallsFollowProgArraySlotsFilledWithIds) {
    auto loaded = load_ok("tail_calls.bpf.o");
    ASSERT_TRUE(loaded);
    Prog* entry = loaded->find_program("entry");
    Prog* target = loaded->find_program("target");
    Prog* again = loaded->find_program("again");
    maps::Map* table = loaded->find_map("jump_table");
    ASSERT_TRUE(entry && target && again && table);

    EXPECT_EQ(run(*entry)->retval, static_cast<uint32_t>(-1)) << "empty slot falls through";

    uint32_t slot = 0, id = target->id();
    ASSERT_TRUE(table->update(&slot, &id, maps::kAny));
    EXPECT_EQ(run(*entry)->retval, 42u);

    // A program that tail-calls itself stops after the kernel's limit of 33
    // tail calls and falls through: 34 runs, a hop each, after target's one.
    slot = 1;
    id = again->id();
    ASSERT_TRUE(table->update(&slot, &id, maps::kAny));
    EXPECT_EQ(run(*again)->retval, 7u);
    EXPECT_EQ(read_u64(*loaded->find_map(".bss"), 0), 1u + 34u);

    uint32_t unknown = 999999;
    auto refused = table->update(&slot, &unknown, maps::kAny);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code(), EBADF);
}

TEST(Runtime, ASlotKeepsItsProgramAndThatProgramsMapsAlive) {
    auto loaded = load_ok("tail_calls.bpf.o");
    auto other = load_ok("tail_calls.bpf.o");
    ASSERT_TRUE(loaded && other);
    uint32_t slot = 0, id = other->find_program("target")->id();
    ASSERT_TRUE(loaded->find_map("jump_table")->update(&slot, &id, maps::kAny));
    other.reset();
    // target counts hops in its own object's .bss, which must outlive the
    // object while the slot holds target (the kernel's used_maps).
    EXPECT_EQ(run(*loaded->find_program("entry"))->retval, 42u);
}

TEST(Runtime, IdsOfUnloadedProgramsResolveToNothing) {
    auto loaded = load_ok("tail_calls.bpf.o");
    auto other = load_ok("tail_calls.bpf.o");
    ASSERT_TRUE(loaded && other);
    uint32_t slot = 0, id = other->find_program("target")->id();
    other.reset();
    auto refused = loaded->find_map("jump_table")->update(&slot, &id, maps::kAny);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code(), EBADF);
}

TEST(Runtime, CribTestRunRulesApply) {
    auto loaded = load_ok("object_calls.bpf.o");
    ASSERT_TRUE(loaded);
    const Prog* crib_prog = nullptr;
    for (const auto& prog : loaded->programs())
        if (prog->type().type == progs::ProgType::Crib) crib_prog = prog.get();
    ASSERT_NE(crib_prog, nullptr);
    std::vector<uint8_t> too_big(65536);
    auto refused = run(*crib_prog, too_big);
    ASSERT_FALSE(refused);
    EXPECT_EQ(refused.error().code(), EINVAL);

    progs::TestRunAttr attr;
    attr.repeat = 2;
    auto repeat = crib_prog->test_run(attr);
    ASSERT_FALSE(repeat);
    EXPECT_EQ(repeat.error().code(), EINVAL);
}

TEST(Runtime, RefusesTypesThatDoNotRunInUserSpace) {
    auto loaded = load_file(object_path("runtime_kprobe.bpf.o"));
    ASSERT_FALSE(loaded);
    EXPECT_EQ(loaded.error().code(), EOPNOTSUPP);
    EXPECT_EQ(
        loaded.error().to_string(),
        "obj 'runtime_kprobe.bpf.o': sec 'kprobe/do_sys_open': prog 'probe': program type kprobe "
        "does not run in user space");
}

TEST(Runtime, RefusesUnknownKfuncsNamingThem) {
    auto loaded = load_file(object_path("runtime_kfunc.bpf.o"));
    ASSERT_FALSE(loaded);
    // The verifier refuses it first, in the kernel's words.
    EXPECT_EQ(loaded.error().code(), EACCES);
    EXPECT_NE(loaded.error().to_string().find("prog 'calls_missing': insn 1: calling kernel "
                                              "function bpf_crib_no_such_kfunc is not allowed"),
              std::string::npos)
        << loaded.error().to_string();
}

TEST(Runtime, EnginesAgreeOnTheDemo) {
    DemoCtx ctx = demo_ctx("the cat and the hat and the bat");
    std::vector<uint32_t> retvals;
    std::vector<std::set<uint64_t>> totals;
    for (Engine engine : {Engine::Interp, Engine::Jit}) {
        auto loaded = load_file(object_path("demo.bpf.o"), {.engine = engine});
        ASSERT_TRUE(loaded) << loaded.error().to_string();
        auto result = run(*(*loaded)->find_program("count_words"),
                          {reinterpret_cast<const uint8_t*>(&ctx), sizeof ctx});
        ASSERT_TRUE(result) << result.error().to_string();
        retvals.push_back(result->retval);
        const maps::Map* bss = (*loaded)->find_map(".bss");
        totals.push_back({read_u64(*bss, 0), read_u64(*bss, 8)});
    }
    EXPECT_EQ(retvals[0], 8u);
    EXPECT_EQ(retvals[0], retvals[1]);
    EXPECT_EQ(totals[0], totals[1]);
}

TEST(Runtime, VerifierRecordsTheLargestContextOffset) {
    auto loaded = load_ok("demo.bpf.o");
    ASSERT_TRUE(loaded);
    const Prog* prog = loaded->find_program("count_words");
    EXPECT_GT(prog->max_ctx_offset(), 4u) << "the demo reads the text after the length";
    EXPECT_LE(prog->max_ctx_offset(), sizeof(DemoCtx));
}

}  // namespace
}  // namespace crib::runtime
