// What crib refuses, and that refusing loses nothing: a dump of a missing
// pid, a restore onto a taken pid, restores of corrupt and truncated images.
#include <gtest/gtest.h>

#include "crib/harness.hpp"

namespace crib::harness {
namespace {

class Failures : public ::testing::Test {
protected:
    void SetUp() override {
        if (auto why = skip_reason(); !why.empty()) GTEST_SKIP() << why;
        become_subreaper();
    }
    void TearDown() override { kill_children(); }
};

bool mentions(const std::string& text, const std::string& what) {
    return text.find(what) != std::string::npos;
}

TEST_F(Failures, DumpOfAMissingPidNamesIt) {
    // a pid that just ended and was reaped: nothing runs under it
    pid_t pid = spawn({"/bin/true"}, {});
    ASSERT_TRUE(wait_exit(pid, seconds(10)).ok());
    TempDir image("crib-img");
    CribRun run = run_crib({"dump", "-t", std::to_string(pid), "-D", image.path()});
    EXPECT_NE(run.exit.code, 0) << run.text();
    EXPECT_FALSE(run.exit.timed_out);
    EXPECT_TRUE(mentions(run.err, std::to_string(pid))) << run.text();
}

// --leave-running keeps the pid taken: the restore must refuse, make
// nothing, and the original must run on.
TEST_F(Failures, RestoreOntoATakenPidIsRefusedAndLeavesNothing) {
    Workload w("idle");
    ASSERT_EQ(w.wait_ready(), "");
    TempDir image("crib-img");
    CribRun dumped =
        run_crib({"dump", "-t", std::to_string(w.pid()), "-D", image.path(), "--leave-running"});
    ASSERT_TRUE(dumped.exit.ok()) << dumped.text();

    CribRun run = run_crib({"restore", "-D", image.path(), "-d"});
    EXPECT_NE(run.exit.code, 0) << run.text();
    EXPECT_FALSE(run.exit.timed_out);
    EXPECT_TRUE(mentions(run.err, std::to_string(w.pid()))) << run.text();
    reap_zombies();
    EXPECT_EQ(children(), std::vector<pid_t>{w.pid()}) << "a refused restore left processes";
    EXPECT_EQ(w.check(), "ok");
}

class CorruptImage : public Failures {
protected:
    // A killed heap workload's image, and a copy to damage.
    void SetUp() override {
        Failures::SetUp();
        if (IsSkipped()) return;
        m_workload = std::make_unique<Workload>("heap", std::vector<std::string>{"4"});
        ASSERT_EQ(m_workload->wait_ready(), "");
        CribRun run = run_crib({"dump", "-t", std::to_string(pid()), "-D", m_image.path()});
        ASSERT_TRUE(run.exit.ok()) << run.text();
        ASSERT_FALSE(wait_exit(pid(), seconds(10)).timed_out);
        std::filesystem::copy(m_image.path(), m_damaged.path(),
                              std::filesystem::copy_options::recursive |
                                  std::filesystem::copy_options::overwrite_existing);
        for (const char* file : {"core.img", "pages.img"})
            ASSERT_TRUE(std::filesystem::exists(m_damaged / file)) << file;
    }

    pid_t pid() const { return m_workload->pid(); }

    // The damaged image is refused naming the file and an offset, nothing is
    // left of the attempt, and the intact image still restores.
    void expect_refused(const std::string& file) {
        CribRun run = run_crib({"restore", "-D", m_damaged.path(), "-d"});
        EXPECT_NE(run.exit.code, 0) << run.text();
        EXPECT_FALSE(run.exit.timed_out);
        EXPECT_TRUE(mentions(run.err, file)) << "names " << file << ":\n" << run.text();
        EXPECT_TRUE(mentions(run.err, "offset")) << run.text();
        reap_zombies();
        EXPECT_FALSE(alive(pid())) << "a refused restore left pid " << pid() << " behind";
        EXPECT_TRUE(children().empty()) << "a refused restore left processes";

        CribRun good = run_crib({"restore", "-D", m_image.path(), "-d"});
        ASSERT_TRUE(good.exit.ok()) << good.text();
        EXPECT_EQ(m_workload->check(), "ok");
        EXPECT_TRUE(wait_exit(pid(), seconds(30)).ok());
    }

    void truncate(const std::string& file, uintmax_t size) {
        std::filesystem::resize_file(m_damaged / file, size);
    }

    void flip_byte(const std::string& file, uintmax_t offset) {
        std::fstream f(m_damaged / file, std::ios::in | std::ios::out | std::ios::binary);
        f.seekg(offset);
        char byte = static_cast<char>(f.get() ^ 0x5a);
        f.seekp(offset);
        f.put(byte);
    }

    uintmax_t size_of(const std::string& file) {
        return std::filesystem::file_size(m_damaged / file);
    }

    std::unique_ptr<Workload> m_workload;
    TempDir m_image{"crib-img"}, m_damaged{"crib-img-damaged"};
};

TEST_F(CorruptImage, TruncatedCoreIsRefused) {
    truncate("core.img", size_of("core.img") / 2);
    expect_refused("core.img");
}

TEST_F(CorruptImage, FlippedByteInCoreIsRefused) {
    flip_byte("core.img", size_of("core.img") / 2);
    expect_refused("core.img");
}

TEST_F(CorruptImage, TruncatedPagesAreRefused) {
    truncate("pages.img", size_of("pages.img") / 2);
    expect_refused("pages.img");
}

TEST_F(CorruptImage, FlippedByteInPagesIsRefused) {
    flip_byte("pages.img", size_of("pages.img") / 3);
    expect_refused("pages.img");
}

}  // namespace
}  // namespace crib::harness
