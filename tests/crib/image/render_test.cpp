// to_json and describe: what `crib show` prints for scripts and people.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "crib/image/render.hpp"
#include "crib/image/sample_image.hpp"

namespace crib::image {
namespace {

using test_data::rich_image;
using ::testing::HasSubstr;

TEST(Json, HasEveryRecordAndTotals) {
    auto json = to_json(rich_image());
    std::vector<std::string> keys;
    for (const auto& [key, value] : json.items()) keys.push_back(key);
    EXPECT_THAT(keys, ::testing::ElementsAre("format_version", "info", "task", "threads", "vmas",
                                             "files", "totals"));
    EXPECT_EQ(json["format_version"], kFormatVersion);
    EXPECT_EQ(json["totals"]["threads"], 2);
    EXPECT_EQ(json["totals"]["vmas"], 5);
    EXPECT_EQ(json["totals"]["files"], 6);
    EXPECT_EQ(json["totals"]["page_runs"], 2);
    EXPECT_EQ(json["totals"]["saved_bytes"], 3 * kPageSize);
    EXPECT_EQ(json["totals"]["pending_signals"], 3);
}

TEST(Json, TaskFieldsByName) {
    auto task = to_json(rich_image())["task"];
    EXPECT_EQ(task["pid"], 4242);
    EXPECT_EQ(task["comm"], "sample");
    EXPECT_EQ(task["umask"], 027);
    EXPECT_EQ(task["umask_text"], "0027");
    EXPECT_EQ(task["creds"]["uids"]["effective"], 1001);
    EXPECT_EQ(task["creds"]["cap_bounding"], "0x1ffffffffff");
    EXPECT_EQ(task["rlimits"]["NOFILE"]["cur"], 1007);
    EXPECT_EQ(task["rlimits"]["NOFILE"]["max"], ~uint64_t{0});
    EXPECT_EQ(task["sigactions"]["SIGINT"]["handler"], "0x401136");
    EXPECT_EQ(task["sigactions"]["SIGINT"]["flags_text"], "SA_SIGINFO|SA_RESTORER|SA_RESTART");
    EXPECT_EQ(task["sigactions"]["SIGINT"]["mask"], nlohmann::ordered_json({"SIGTERM"}));
    EXPECT_EQ(task["sigactions"]["SIGPIPE"]["handler"], "0x1");
    EXPECT_EQ(task["sigactions"].size(), kSignalCount);
    EXPECT_EQ(task["shared_pending"][0]["signal"], "SIGUSR1");
    EXPECT_EQ(task["shared_pending"][0]["code"], -6);
    EXPECT_EQ(task["shared_pending"][0]["siginfo"].get<std::string>().size(), 256u);
    EXPECT_EQ(task["itimers"]["real"]["value_us"], 1'500'000);
    EXPECT_EQ(task["mm"]["start_brk"], "0x1000000");
    EXPECT_EQ(task["mm"]["auxv"][1], "0x7ffd00100000");
}

TEST(Json, ThreadRegistersAndSignalsByName) {
    auto threads = to_json(rich_image())["threads"];
    ASSERT_EQ(threads.size(), 2u);
    EXPECT_EQ(threads[0]["tid"], 4242);
    EXPECT_EQ(threads[0]["regs"]["rip"], "0x401200");
    EXPECT_EQ(threads[0]["regs"]["rsp"], "0x7ffd0000d000");
    EXPECT_EQ(threads[0]["regs"]["r15"], "0x1000");
    EXPECT_EQ(threads[0]["regs"].size(), 27u);
    EXPECT_EQ(threads[1]["regs"]["rip"], "0x401300");
    EXPECT_EQ(threads[0]["blocked"], nlohmann::ordered_json({"SIGINT", "SIGTERM"}));
    EXPECT_EQ(threads[0]["pending"][1]["signal"], "SIG34");
    EXPECT_EQ(threads[0]["xstate"], "0102030405060708");
    EXPECT_EQ(threads[0]["altstack"]["flags_text"], "SS_AUTODISARM");
    EXPECT_EQ(threads[0]["rseq"]["signature"], "0x53053053");
    EXPECT_EQ(threads[0]["clear_child_tid"], "0x7f0000300990");
}

TEST(Json, MappingsAndFiles) {
    auto json = to_json(rich_image());
    auto heap = json["vmas"][1];
    EXPECT_EQ(heap["start"], "0x1000000");
    EXPECT_EQ(heap["prot"], 3);
    EXPECT_EQ(heap["prot_text"], "rw-");
    EXPECT_EQ(heap["perms"], "rw-p");
    EXPECT_EQ(heap["flags_text"], "MAP_PRIVATE|MAP_ANONYMOUS");
    EXPECT_EQ(heap["kind"], "heap");
    EXPECT_EQ(heap["saved_bytes"], 3 * kPageSize);
    EXPECT_EQ(heap["pages"][1]["file_offset"], "0x2000");
    EXPECT_EQ(heap["pages"][1]["checksum"], "0xfedcba0987654321");
    EXPECT_EQ(json["vmas"][0]["dev_text"], "08:01");
    EXPECT_EQ(json["vmas"][2]["perms"], "rw-s");

    auto files = json["files"];
    EXPECT_EQ(files[0]["kind"], "chardev");
    EXPECT_EQ(files[0]["flags_text"], "O_RDWR|O_APPEND");
    EXPECT_EQ(files[1]["flags_text"], "O_RDONLY|O_CLOEXEC");
    EXPECT_EQ(files[1]["data"], "68656c6c6f");
    EXPECT_EQ(files[2]["eventfd_count"], 3);
    EXPECT_EQ(files[2]["eventfd_flags_text"], "EFD_SEMAPHORE|EFD_NONBLOCK");
    EXPECT_EQ(files[5]["mode_text"], "0100644");
    EXPECT_EQ(json["info"]["time"], "2026-11-18T11:06:40.123456789Z");
}

TEST(Json, NonUtf8PathsStillDump) {
    Image image = rich_image();
    image.process.files[5].path = "/tmp/caf\xe9\xc3\xa9/\xed\xa0\x80";
    auto json = to_json(image);
    EXPECT_EQ(json["files"][5]["path"],
              "/tmp/caf\xef\xbf\xbd\xc3\xa9/\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    EXPECT_NO_THROW(json.dump());
}

TEST(Describe, ShowsWhatAPersonLooksFor) {
    std::string text = describe(rich_image());
    const char* kExpected[] = {
        "image     format 1, collector procfs, kernel 6.18.0-crib",
        "task      pid 4242 (sample)  ppid 1  pgid 4240  sid 4200  umask 0027",
        "exe  /usr/bin/sample",
        "uid 1000/1001/1002/1003",
        "groups 4 24 27",
        "NOFILE 1007/unlimited",
        "SIGINT    handler 0x401136  flags SA_SIGINFO|SA_RESTORER|SA_RESTART  mask SIGTERM",
        "SIGPIPE   ignored",
        "shared pending SIGUSR1(code -6)",
        "real in 1.500000s every 0.250000s; virtual disarmed; prof in 0.020000s once",
        "brk 0x1000000-0x1021000",
        "threads   2",
        "tid 4242 (leader)",
        "rip 0x401200 rsp 0x7ffd0000d000",
        "blocked SIGINT SIGTERM  pending SIGUSR2(code 0) SIG34(code -1)",
        "tid 4243\n",
        "rip 0x401300",
        "rseq 0x7f0000200020 (32 bytes, sig 0x53053053)",
        "00400000-00401000 r-xp 00001000 08:01 131      file     -                  "
        "/usr/bin/sample\n",
        "01000000-01021000 rw-p 00000000 00:00 0        heap     12.0 KiB in 2 runs [heap]\n",
        "7f0000000000-7f0000004000 rw-s",
        "fd 3    pipe        O_RDONLY|O_CLOEXEC",
        "pipe:[98765]  (5 bytes in flight)",
        "count 3 EFD_SEMAPHORE|EFD_NONBLOCK",
        "totals    2 threads, 5 mappings, 6 files, 3 pending signals, 12.0 KiB saved in 2 page "
        "runs",
    };
    for (const char* expected : kExpected) EXPECT_THAT(text, HasSubstr(expected));
}

TEST(Describe, DefaultSignalsAreSaidOnce) {
    Image image = rich_image();
    image.process.task.sigactions = {};
    EXPECT_THAT(describe(image), HasSubstr("signals   all default\n"));
}

}  // namespace
}  // namespace crib::image
