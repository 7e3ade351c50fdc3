// Every workload dumped, killed, restored under its old PID and checked by
// itself; detached restore; --leave-running. The workloads' protocol is in
// tests/crib/workloads/workload.h.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "crib/harness.hpp"

namespace crib::harness {
namespace {

class EndToEnd : public ::testing::Test {
protected:
    void SetUp() override {
        if (auto why = skip_reason(); !why.empty()) GTEST_SKIP() << why;
        become_subreaper();
    }
    void TearDown() override { kill_children(); }
};

struct Case {
    std::string name;
    std::vector<std::string> args;
};

std::string case_name(const ::testing::TestParamInfo<Case>& info) {
    return info.param.name;
}

const std::vector<Case> kWorkloads = {
    {"memory", {}},  {"threads", {}},  {"signals", {}},         {"files", {}},    {"pipes", {}},
    {"eventfd", {}}, {"heap", {"64"}}, {"manyfiles", {"1000"}}, {"demo", {"64"}},
};

// crib dump -t PID -D DIR [extra]: the workload must be gone afterwards
// unless --leave-running.
void dump(const Workload& w, const std::string& image, std::vector<std::string> extra = {}) {
    std::vector<std::string> args{"dump", "-t", std::to_string(w.pid()), "-D", image};
    args.insert(args.end(), extra.begin(), extra.end());
    CribRun run = run_crib(args);
    ASSERT_TRUE(run.exit.ok()) << "crib dump: " << run.exit.describe() << "\n" << run.text();
}

void expect_killed(const Workload& w) {
    Exit gone = wait_exit(w.pid(), seconds(10));
    EXPECT_FALSE(gone.timed_out) << w.name() << " still runs after crib dump";
    EXPECT_EQ(gone.signal, SIGKILL) << w.name() << " after crib dump: " << gone.describe();
}

class DumpRestore : public EndToEnd, public ::testing::WithParamInterface<Case> {};

// `crib restore` stays the restored process's parent and leaves with its
// exit status.
TEST_P(DumpRestore, KilledThenRestoredUnderTheSamePidCarriesOn) {
    Workload w(GetParam().name, GetParam().args);
    ASSERT_EQ(w.wait_ready(), "");
    std::this_thread::sleep_for(milliseconds(50));  // well into its loop
    TempDir image("crib-img");
    ASSERT_NO_FATAL_FAILURE(dump(w, image.path()));
    ASSERT_NO_FATAL_FAILURE(expect_killed(w));

    CribProcess restore({"restore", "-D", image.path()});
    ASSERT_TRUE(wait_until(seconds(30),
                           [&] { return alive(w.pid()) && parent_of(w.pid()) == restore.pid(); }))
        << "pid " << w.pid() << " not restored under crib restore " << restore.pid() << ": "
        << restore.finish(seconds(1)).text();
    EXPECT_EQ(w.check(), "ok");
    CribRun run = restore.finish();
    EXPECT_TRUE(run.exit.ok()) << "crib restore passes on the workload's exit: "
                               << run.exit.describe() << "\n"
                               << run.text();
}

INSTANTIATE_TEST_SUITE_P(Workloads, DumpRestore, ::testing::ValuesIn(kWorkloads), case_name);

// The "done when": threads, a large heap, files, a pipe with bytes in
// flight, an eventfd, a blocked mask with a pending signal and handlers;
// restored detached (-d), then adopted by us as crib exits.
TEST_F(EndToEnd, DemoRestoredDetachedCarriesOn) {
    Workload w("demo", {"256"});
    ASSERT_EQ(w.wait_ready(), "");
    std::this_thread::sleep_for(milliseconds(1500));  // a line or two in its stdout
    TempDir image("crib-img");
    ASSERT_NO_FATAL_FAILURE(dump(w, image.path()));
    ASSERT_NO_FATAL_FAILURE(expect_killed(w));
    std::string before = read_file(w.dir() / "stdout");

    CribRun run = run_crib({"restore", "-D", image.path(), "-d", "--json"});
    ASSERT_TRUE(run.exit.ok()) << run.exit.describe() << "\n" << run.text();
    auto doc = nlohmann::json::parse(run.out, nullptr, false);
    ASSERT_FALSE(doc.is_discarded()) << run.out;
    EXPECT_EQ(doc.value("pid", 0), w.pid());
    EXPECT_GT(doc["ms"].value("total", 0.0), 0.0) << run.out;
    EXPECT_GT(doc["ms"].value("build", 0.0), 0.0) << run.out;
    ASSERT_TRUE(alive(w.pid())) << "crib restore -d returned but pid " << w.pid() << " is gone";
    EXPECT_EQ(parent_of(w.pid()), getpid()) << "the orphan should come to us, the subreaper";

    // It prints a line a second: the restored one carries on printing.
    EXPECT_TRUE(wait_until(seconds(5), [&] {
        return read_file(w.dir() / "stdout").size() > before.size();
    })) << "no new line from the restored demo";
    EXPECT_EQ(w.check(), "ok");
    Exit exit = wait_exit(w.pid(), seconds(30));
    EXPECT_TRUE(exit.ok()) << exit.describe();
}

// The self-checks are not vacuous: a change the workload did not make (a
// line appended to its O_APPEND log from outside) fails its check.
TEST_F(EndToEnd, WorkloadCheckCatchesAChangeItDidNotMake) {
    Workload w("files");
    ASSERT_EQ(w.wait_ready(), "");
    std::ofstream(w.dir() / "log.txt", std::ios::app) << "not from files.\n";
    std::string result = w.check();
    EXPECT_TRUE(result.starts_with("fail: log.txt")) << result;
    EXPECT_EQ(wait_exit(w.pid(), seconds(30)).code, 1);
}

class LeaveRunning : public EndToEnd, public ::testing::WithParamInterface<Case> {};

TEST_P(LeaveRunning, ProcessRunsOnUnharmedAndPassesItsCheck) {
    Workload w(GetParam().name, GetParam().args);
    ASSERT_EQ(w.wait_ready(), "");
    TempDir image("crib-img");
    ASSERT_NO_FATAL_FAILURE(dump(w, image.path(), {"--leave-running"}));
    ASSERT_TRUE(alive(w.pid())) << "--leave-running killed " << w.name();
    EXPECT_TRUE(std::filesystem::exists(image / "core.img"));
    EXPECT_EQ(w.check(), "ok");
    Exit exit = wait_exit(w.pid(), seconds(30));
    EXPECT_TRUE(exit.ok()) << exit.describe();
}

INSTANTIATE_TEST_SUITE_P(Workloads, LeaveRunning, ::testing::ValuesIn(kWorkloads), case_name);

}  // namespace
}  // namespace crib::harness
