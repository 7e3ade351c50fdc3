// The crib command line as a user runs it: exit status, text and JSON.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/wait.h>
#include <array>
#include <cerrno>
#include <cstdio>
#include <string>

namespace {

struct Output {
    int status;
    std::string out;  // stdout and stderr together
};

Output crib(const std::string& args) {
    std::string command = std::string(CRIB_BIN_DIR) + "/crib " + args + " 2>&1";
    FILE* pipe = popen(command.c_str(), "r");
    Output result{-1, {}};
    if (!pipe) return result;
    std::array<char, 4096> buffer;
    size_t n;
    while ((n = fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
        result.out.append(buffer.data(), n);
    int status = pclose(pipe);
    result.status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return result;
}

std::string object(const std::string& name) {
    return std::string(CRIB_BPF_DIR) + "/" + name;
}

// "to be", as the demo's context: u32 length, then the text, padded to the
// whole struct (BPF_PROG_RUN wants every byte the program may read).
const std::string kDemoCtx = "05000000 746f206265" + std::string(2 * 251, '0');

TEST(Cli, HelpExitsZero) {
    for (const char* args :
         {"--help", "prog --help", "prog run --help", "map --help", "map update --help"}) {
        Output result = crib(args);
        EXPECT_EQ(result.status, 0) << args << "\n" << result.out;
        EXPECT_NE(result.out.find("Usage:"), std::string::npos) << args;
    }
}

TEST(Cli, ProgLoadJsonListsProgramsAndMaps) {
    Output result = crib("prog load " + object("demo.bpf.o") + " --json");
    ASSERT_EQ(result.status, 0) << result.out;
    auto doc = nlohmann::json::parse(result.out);
    ASSERT_EQ(doc["programs"].size(), 1u);
    EXPECT_EQ(doc["programs"][0]["name"], "count_words");
    EXPECT_EQ(doc["programs"][0]["type"], "syscall");
    std::vector<std::string> maps;
    for (const auto& map : doc["maps"]) maps.push_back(map["name"]);
    EXPECT_EQ(maps, (std::vector<std::string>{"word_counts", "words", ".rodata", ".bss"}));
}

// The CRIB dump programs call the checkpoint kfuncs: prog load verifies
// them as `crib dump` does, and a run for a pid no dump serves says ESRCH.
TEST(Cli, CribDumpProgramsLoadAndRun) {
    Output result = crib("prog load " + object("dump.bpf.o") + " --json");
    ASSERT_EQ(result.status, 0) << result.out;
    auto doc = nlohmann::json::parse(result.out);
    EXPECT_EQ(doc["programs"].size(), 6u);
    result = crib("prog run " + object("dump.bpf.o") +
                  " --prog dump_vmas --ctx-hex '01000000 00000000' --json");
    ASSERT_EQ(result.status, 0) << result.out;
    EXPECT_EQ(nlohmann::json::parse(result.out)["retval"], uint32_t(-ESRCH));
}

TEST(Cli, ProgRunJsonHasRetvalDurationAndRingbuf) {
    Output result =
        crib("prog run " + object("demo.bpf.o") + " --ctx-hex '" + kDemoCtx + "' --json");
    ASSERT_EQ(result.status, 0) << result.out;
    auto doc = nlohmann::json::parse(result.out);
    EXPECT_EQ(doc["retval"], 2);
    EXPECT_TRUE(doc.contains("duration_ns"));
    EXPECT_EQ(doc["ringbuf"].size(), 2u);
}

TEST(Cli, ProgRunRepeatReportsMeanDuration) {
    Output result =
        crib("prog run " + object("demo.bpf.o") + " --ctx-hex '" + kDemoCtx + "' --repeat 50");
    ASSERT_EQ(result.status, 0) << result.out;
    EXPECT_NE(result.out.find("ns per run (mean of 50)"), std::string::npos) << result.out;
}

TEST(Cli, RetvalIsTheUnsigned32BitValue) {
    Output result = crib("prog run " + object("tail_calls.bpf.o") + " --prog entry --json");
    ASSERT_EQ(result.status, 0) << result.out;
    EXPECT_EQ(nlohmann::json::parse(result.out)["retval"], 4294967295u);
}

TEST(Cli, SeveralProgramsNeedProg) {
    Output result = crib("prog run " + object("tail_calls.bpf.o"));
    EXPECT_EQ(result.status, 1);
    EXPECT_NE(result.out.find("has 3 programs (target, entry, again); choose one with --prog"),
              std::string::npos)
        << result.out;
}

TEST(Cli, FailuresNameTheCause) {
    struct Case {
        std::string args;
        std::string message;
    };
    const Case cases[] = {
        {"prog run /nonexistent.o", "crib: cannot open object '/nonexistent.o'"},
        {"prog load " + object("runtime_kprobe.bpf.o"),
         "program type kprobe does not run in user space"},
        {"prog load " + object("runtime_kfunc.bpf.o"),
         "calling kernel function bpf_crib_no_such_kfunc is not allowed"},
        {"prog run " + object("demo.bpf.o") + " --ctx-hex 0g",
         "'g' at position 1 is not a hex digit"},
        {"map lookup " + object("demo.bpf.o") + " --map nope --key 00", "no map named 'nope'"},
        {"map lookup " + object("demo.bpf.o") + " --map .rodata --key 00",
         "--key must be 4 bytes, got 1"},
        {"prog dump " + object("demo.bpf.o") + " --prog nope", "no program named 'nope'"},
        {"prog run " + object("demo.bpf.o") + " --ctx-hex 05000000",
         "ctx_size_in 4 is smaller than the program's largest context offset 260"},
    };
    for (const Case& c : cases) {
        Output result = crib(c.args);
        EXPECT_EQ(result.status, 1) << c.args << "\n" << result.out;
        EXPECT_NE(result.out.find(c.message), std::string::npos) << c.args << "\n" << result.out;
    }
}

TEST(Cli, ErrorsAsJson) {
    Output result = crib("prog load " + object("runtime_kprobe.bpf.o") + " --json");
    EXPECT_EQ(result.status, 1);
    auto doc = nlohmann::json::parse(result.out);
    EXPECT_EQ(doc["errno"], "EOPNOTSUPP");
    EXPECT_NE(doc["error"].get<std::string>().find("kprobe"), std::string::npos);
}

TEST(Cli, MapCommands) {
    Output lookup =
        crib("map lookup " + object("demo.bpf.o") + " --map .rodata --key 00000000 --json");
    ASSERT_EQ(lookup.status, 0) << lookup.out;
    EXPECT_EQ(nlohmann::json::parse(lookup.out)["value"], "c5 9d 1c 81");

    Output update =
        crib("map update " + object("demo.bpf.o") +
             " --map word_counts --key 01000000 --value 0100000000000000 --flags exist");
    EXPECT_EQ(update.status, 1);
    EXPECT_NE(update.out.find("map 'word_counts' (hash): update: no such key (BPF_EXIST)"),
              std::string::npos)
        << update.out;

    Output show = crib("map show " + object("demo.bpf.o") + " --json");
    ASSERT_EQ(show.status, 0) << show.out;
    EXPECT_EQ(nlohmann::json::parse(show.out)["maps"][1]["type"], "ringbuf");
}

TEST(Cli, DumpShowsSourceLines) {
    Output result = crib("prog dump " + object("demo.bpf.o") + " --json");
    ASSERT_EQ(result.status, 0) << result.out;
    auto doc = nlohmann::json::parse(result.out);
    bool has_loop_call = false, has_source = false;
    for (const auto& insn : doc["programs"][0]["insns"]) {
        if (insn["text"] == "call bpf_loop#181") has_loop_call = true;
        if (insn.contains("source") && insn["source"]["text"].get<std::string>().find(
                                           "bpf_loop(MAX_TEXT, step, &s, 0);") != std::string::npos)
            has_source = true;
    }
    EXPECT_TRUE(has_loop_call);
    EXPECT_TRUE(has_source);
}

TEST(Cli, ConformancePluginRunsOneProgram) {
    std::string command = "echo 'b7 00 00 00 2a 00 00 00 95 00 00 00 00 00 00 00' | " +
                          std::string(CRIB_BIN_DIR) + "/crib conformance-plugin";
    FILE* pipe = popen(command.c_str(), "r");
    ASSERT_NE(pipe, nullptr);
    char line[64] = {};
    ASSERT_NE(fgets(line, sizeof line, pipe), nullptr);
    EXPECT_EQ(pclose(pipe), 0);
    EXPECT_EQ(std::string(line), "2a\n");
}

}  // namespace
