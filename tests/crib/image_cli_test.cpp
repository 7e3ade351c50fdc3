// crib show (text and --json) and crib dump --json on real dumps, and the
// two collectors agreeing on the same idle process.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "crib/harness.hpp"

namespace crib::harness {
namespace {

using nlohmann::json;

class ImageCli : public ::testing::Test {
protected:
    void SetUp() override {
        if (auto why = skip_reason(); !why.empty()) GTEST_SKIP() << why;
        become_subreaper();
    }
    void TearDown() override { kill_children(); }
};

json parse(const CribRun& run) {
    json doc = json::parse(run.out, nullptr, false);
    EXPECT_FALSE(doc.is_discarded()) << "not JSON:\n" << run.out << run.err;
    return doc;
}

json dump_json(const Workload& w, const std::string& image, const std::string& collector) {
    CribRun run = run_crib({"dump", "-t", std::to_string(w.pid()), "-D", image, "--leave-running",
                            "--json", "--collector", collector});
    EXPECT_TRUE(run.exit.ok()) << "crib dump --collector " << collector << ": "
                               << run.exit.describe() << "\n"
                               << run.text();
    return run.exit.ok() ? parse(run) : json();
}

json show_json(const std::string& image) {
    CribRun run = run_crib({"show", image, "--json"});
    EXPECT_TRUE(run.exit.ok()) << "crib show --json: " << run.exit.describe() << "\n" << run.text();
    return run.exit.ok() ? parse(run) : json();
}

size_t count_files(const json& doc, const std::string& kind) {
    size_t n = 0;
    for (const auto& file : doc["files"]) n += file.value("kind", "") == kind;
    return n;
}

// idle: main in pause(2), two threads in read(2); a file, two pipes (one
// with bytes in flight), an eventfd at 5, a pending blocked SIGHUP.
TEST_F(ImageCli, ShowJsonDescribesTheDumpedProcess) {
    Workload w("idle");
    ASSERT_EQ(w.wait_ready(), "");
    TempDir image("crib-img");
    json report = dump_json(w, image.path(), "procfs");
    ASSERT_FALSE(report.is_null());
    EXPECT_EQ(report.value("pid", 0), w.pid());
    EXPECT_EQ(report.value("threads", 0), 3);
    EXPECT_EQ(report.value("collector", ""), "procfs");
    EXPECT_GT(report.value("memory_bytes", 0ull), 1ull << 20);
    EXPECT_TRUE(report.contains("ms") && report["ms"].contains("total")) << report.dump(2);

    json doc = show_json(image.path());
    ASSERT_FALSE(doc.is_null());
    EXPECT_EQ(doc["info"].value("collector", ""), "procfs");
    EXPECT_EQ(doc["task"].value("pid", 0), w.pid());
    EXPECT_EQ(doc["task"].value("sid", 0), w.pid()) << "the harness starts workloads with setsid";
    EXPECT_EQ(doc["task"].value("comm", ""), "idle");
    ASSERT_EQ(doc["threads"].size(), 3u);
    EXPECT_EQ(doc["threads"][0].value("tid", 0), w.pid()) << "threads[0] is the leader";
    EXPECT_EQ(count_files(doc, "pipe"), 4u) << doc["files"].dump(2);
    EXPECT_EQ(count_files(doc, "eventfd"), 1u);
    EXPECT_EQ(count_files(doc, "regular"), 3u) << "file.bin, stdout, stderr";
    EXPECT_EQ(count_files(doc, "chardev"), 1u) << "stdin is /dev/null";
    for (const auto& file : doc["files"]) {
        if (file.value("kind", "") == "eventfd") {
            EXPECT_EQ(file.value("eventfd_count", 0), 5);
        }
        if (file.value("path", "").ends_with("/file.bin")) {
            EXPECT_EQ(file.value("pos", 0), 4321);
        }
    }
    EXPECT_FALSE(doc["vmas"].empty());
    EXPECT_EQ(doc["totals"].value("threads", 0), 3);
    EXPECT_GE(doc["totals"].value("pending_signals", 0), 1) << "the blocked SIGHUP";

    CribRun text = run_crib({"show", image.path()});
    ASSERT_TRUE(text.exit.ok()) << text.text();
    EXPECT_NE(text.out.find(std::to_string(w.pid())), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("idle"), std::string::npos) << text.out;
    EXPECT_NE(text.out.find("eventfd"), std::string::npos) << text.out;

    EXPECT_EQ(w.check(), "ok");
}

// --write-mode picks how pages.img is written; the report says which mode
// ran (auto resolved), and a mode crib does not know is refused up front.
TEST_F(ImageCli, WriteModeIsChosenAndReported) {
    Workload w("idle");
    ASSERT_EQ(w.wait_ready(), "");
    for (const char* mode : {"direct", "cached"}) {
        TempDir image("crib-img");
        CribRun run = run_crib({"dump", "-t", std::to_string(w.pid()), "-D", image.path(),
                                "--leave-running", "--json", "--write-mode", mode});
        ASSERT_TRUE(run.exit.ok()) << run.exit.describe() << "\n" << run.text();
        EXPECT_EQ(parse(run).value("write_mode", ""), mode);
        CribRun check = run_crib({"show", image.path(), "--check"});
        EXPECT_TRUE(check.exit.ok()) << mode << ": " << check.text();
    }
    TempDir image("crib-img");
    json report = dump_json(w, image.path(), "auto");
    EXPECT_NE(report.value("write_mode", "auto"), "auto") << report.dump(2);

    CribRun bad = run_crib({"dump", "-t", std::to_string(w.pid()), "-D",
                            (image.path() / "bad").string(), "--write-mode", "sideways"});
    EXPECT_FALSE(bad.exit.ok());
    EXPECT_NE(bad.err.find("unknown write mode 'sideways'"), std::string::npos) << bad.text();
}

// What two dumps of the same idle process may differ in: which collector,
// when, where page contents sit in pages.img, and the contents themselves
// (the kernel rewrites rseq's cpu_id in user memory when a resumed thread
// lands on another CPU). Which pages were saved is compared.
json comparable(json doc) {
    for (const char* key : {"collector", "time_ns", "time"}) doc["info"].erase(key);
    for (auto& vma : doc["vmas"]) {
        for (auto& run : vma["pages"]) {
            run.erase("file_offset");
            run.erase("checksum");
        }
    }
    return doc;
}

TEST_F(ImageCli, KernelAndProcfsCollectorsGiveTheSameImage) {
    Workload w("idle");
    ASSERT_EQ(w.wait_ready(), "");
    TempDir procfs("crib-img-procfs"), kernel("crib-img-kernel");
    json procfs_report = dump_json(w, procfs.path(), "procfs");
    json kernel_report = dump_json(w, kernel.path(), "kernel");
    ASSERT_FALSE(procfs_report.is_null() || kernel_report.is_null());
    EXPECT_EQ(kernel_report.value("collector", ""), "kernel")
        << "fell back: " << kernel_report.value("collector_fallback", "");

    json a = comparable(show_json(procfs.path()));
    json b = comparable(show_json(kernel.path()));
    EXPECT_EQ(a, b) << "procfs -> kernel differences:\n" << json::diff(a, b).dump(2);
    EXPECT_EQ(w.check(), "ok");
}

}  // namespace
}  // namespace crib::harness
