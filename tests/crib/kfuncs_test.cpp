// The CRIB dump programs over the checkpoint kfuncs: what a collector
// gathered comes back, record by record, as the same process.
#include <gtest/gtest.h>

#include "crib/dump_programs.hpp"
#include "crib/kfuncs.hpp"
#include "crib/records.hpp"
#include "maps/ringbuf.hpp"

namespace crib::dump {
namespace {

image::Process sample_process() {
    image::Process p;
    image::Task& t = p.task;
    t.pid = 4242;
    t.ppid = 1;
    t.pgid = 4242;
    t.sid = 4000;
    t.comm = "sample";
    t.exe = "/usr/bin/sample";
    t.cwd = "/tmp";
    t.root = "/";
    t.umask = 027;
    t.personality = 0x0400000;
    t.creds.uids = {1, 2, 3, 4};
    t.creds.gids = {5, 6, 7, 8};
    t.creds.groups = {10, 20, 30};
    t.creds.cap_effective = 0x1ff;
    t.creds.cap_bounding = ~0ull >> 23;
    for (uint32_t i = 0; i < image::kRlimitCount; ++i) t.rlimits[i] = {i * 100, i * 1000};
    t.sigactions[9] = {0x401000, 0x14000000, 0x402000, 1ull << 3};
    t.itimers[0] = {1000, 250};
    t.mm = {0x400000,   0x401000,   0x600000,   0x601000,   0x700000,   0x721000,
            0x7ffd0000, 0x7ffd1000, 0x7ffd1100, 0x7ffd1100, 0x7ffd1200, {6, 4096, 0, 0}};
    image::PendingSignal shared;
    shared.siginfo[0] = 10;
    t.shared_pending.push_back(shared);

    for (int32_t tid : {4242, 4243}) {
        image::Thread& thread = p.threads.emplace_back();
        thread.tid = tid;
        for (size_t i = 0; i < thread.regs.size(); ++i) thread.regs[i] = tid * 100 + i;
        thread.xstate.assign(832, static_cast<uint8_t>(tid));
        thread.blocked = 1ull << 9;
        thread.altstack = {0x10000, 8192, 0};
        thread.rseq = {0x7f0000001000, 32, 0, 0x53053053};
        thread.clear_child_tid = 0x7f0000002000 + tid;
    }
    image::PendingSignal own;
    own.siginfo[0] = 12;
    p.threads[1].pending.push_back(own);

    image::Vma& heap = p.vmas.emplace_back();
    heap = {0x700000, 0x721000, 3, 0x22, image::VmaKind::Heap, 0, "[heap]", 0, 0, {}};
    image::Vma& file = p.vmas.emplace_back();
    file = {0x7f0000000000, 0x7f0000004000,          5,     0x02, image::VmaKind::File,
            8192,           "/usr/lib/libsample.so", 0x801, 77,   {}};

    image::FileDesc& pipe = p.files.emplace_back();
    pipe.fd = 3;
    pipe.kind = image::FileKind::Pipe;
    pipe.flags = 0;
    pipe.path = "pipe:[991]";
    pipe.ino = 991;
    pipe.mode = 010600;
    for (int i = 0; i < 10000; ++i) pipe.data.push_back(static_cast<uint8_t>(i * 7));
    image::FileDesc& event = p.files.emplace_back();
    event.fd = 5;
    event.kind = image::FileKind::Eventfd;
    event.path = "anon_inode:[eventfd]";
    event.eventfd_count = 42;
    event.eventfd_flags = 1;
    return p;
}

TEST(CribRecords, RecordsRebuildTheProcess) {
    image::Process p = sample_process();
    ProcessBuilder builder;
    auto add = [&](const auto& record) {
        auto bytes = std::span(reinterpret_cast<const uint8_t*>(&record), sizeof(record));
        ASSERT_TRUE(builder.add(bytes).ok());
    };
    auto task = std::make_unique<crib_task_info>();
    ASSERT_TRUE(fill_task(p.task, *task).ok());
    add(*task);
    for (const auto& thread : p.threads) {
        auto record = std::make_unique<crib_thread>();
        ASSERT_TRUE(fill_thread(thread, *record).ok());
        add(*record);
        for (const auto& signal : thread.pending) {
            crib_signal s{};
            fill_signal(thread.tid, signal, s);
            add(s);
        }
    }
    crib_signal shared{};
    fill_signal(0, p.task.shared_pending[0], shared);
    add(shared);
    for (const auto& vma : p.vmas) {
        auto record = std::make_unique<crib_vma>();
        ASSERT_TRUE(fill_vma(vma, *record).ok());
        add(*record);
    }
    for (const auto& file : p.files) {
        auto record = std::make_unique<crib_file>();
        ASSERT_TRUE(fill_file(file, *record).ok());
        add(*record);
    }
    for (size_t offset = 0; offset < p.files[0].data.size(); offset += CRIB_CHUNK_MAX) {
        auto chunk = std::make_unique<crib_chunk>();
        chunk->kind = CRIB_REC_CHUNK;
        chunk->fd = 3;
        chunk->offset = offset;
        chunk->size = std::min<uint32_t>(CRIB_CHUNK_MAX, p.files[0].data.size() - offset);
        std::copy_n(p.files[0].data.begin() + offset, chunk->size, chunk->data);
        add(*chunk);
    }
    auto rebuilt = builder.finish();
    ASSERT_TRUE(rebuilt.ok()) << rebuilt.error().to_string();
    EXPECT_EQ(*rebuilt, p);
}

TEST(CribRecords, RefusesBadRecords) {
    ProcessBuilder builder;
    uint32_t unknown = 99;
    auto error = builder.add(std::span(reinterpret_cast<const uint8_t*>(&unknown), 4));
    ASSERT_FALSE(error.ok());
    EXPECT_NE(error.error().message().find("unknown kind 99"), std::string::npos);
    uint32_t short_task[2] = {CRIB_REC_TASK, 0};
    error = builder.add(std::span(reinterpret_cast<const uint8_t*>(short_task), 8));
    ASSERT_FALSE(error.ok());
    EXPECT_NE(error.error().message().find("'task'"), std::string::npos);
    auto finished = builder.finish();
    ASSERT_FALSE(finished.ok());
    EXPECT_NE(finished.error().message().find("no task record"), std::string::npos);

    image::Task task;
    task.exe = std::string(CRIB_PATH_MAX, 'x');
    auto record = std::make_unique<crib_task_info>();
    auto filled = fill_task(task, *record);
    ASSERT_FALSE(filled.ok());
    EXPECT_EQ(filled.error().code(), E2BIG);
}

// The shipped programs, verified and run on both engines, send back exactly
// the process the kfuncs serve.
class CribDumpPrograms : public ::testing::TestWithParam<runtime::Engine> {};

TEST_P(CribDumpPrograms, ForwardEverything) {
    ASSERT_TRUE(register_checkpoint_kfuncs().ok());
    runtime::LoadOptions options;
    options.engine = GetParam();
    auto object = load_dump_programs(options);
    ASSERT_TRUE(object.ok()) << object.error().to_string();
    maps::Map* ringbuf = (*object)->find_map("records");
    ASSERT_NE(ringbuf, nullptr);
    ProcessBuilder builder;
    auto consumer = maps::RingbufConsumer::create(*ringbuf, [&](std::span<const uint8_t> r) {
        auto added = builder.add(r);
        EXPECT_TRUE(added.ok()) << added.error().to_string();
        return added.ok() ? 0 : -1;
    });
    ASSERT_TRUE(consumer.ok());

    image::Process p = sample_process();
    auto session = KfuncSession::open(p);
    ASSERT_TRUE(session.ok());
    EXPECT_FALSE(KfuncSession::open(p).ok()) << "a second session for the same pid";
    crib_dump_ctx ctx{static_cast<uint32_t>(p.task.pid), 0};
    progs::TestRunAttr attr;
    attr.ctx_in = std::span(reinterpret_cast<const uint8_t*>(&ctx), sizeof(ctx));
    const std::map<std::string, uint32_t> expected_records = {
        {"dump_task", 1}, {"dump_threads", 2}, {"dump_signals", 2},
        {"dump_vmas", 2}, {"dump_files", 2},   {"dump_pipe_data", 3}};
    for (const char* name : kDumpPrograms) {
        runtime::Prog* prog = (*object)->find_program(name);
        ASSERT_NE(prog, nullptr) << name;
        auto run = prog->test_run(attr);
        ASSERT_TRUE(run.ok()) << run.error().to_string();
        EXPECT_EQ(run->retval, expected_records.at(name)) << name;
        consumer->consume();
    }
    ASSERT_TRUE((*session)->status().ok());
    auto rebuilt = builder.finish();
    ASSERT_TRUE(rebuilt.ok()) << rebuilt.error().to_string();
    EXPECT_EQ(*rebuilt, p);

    // A pid no session serves: the task kfunc says ESRCH, the iterators end at once.
    crib_dump_ctx other{1, 0};
    attr.ctx_in = std::span(reinterpret_cast<const uint8_t*>(&other), sizeof(other));
    auto run = (*object)->find_program("dump_task")->test_run(attr);
    ASSERT_TRUE(run.ok());
    EXPECT_EQ(static_cast<int32_t>(run->retval), -ESRCH);
    run = (*object)->find_program("dump_vmas")->test_run(attr);
    ASSERT_TRUE(run.ok());
    EXPECT_EQ(static_cast<int32_t>(run->retval), -ESRCH);
}

INSTANTIATE_TEST_SUITE_P(Engines, CribDumpPrograms,
                         ::testing::Values(runtime::Engine::Interp, runtime::Engine::Jit),
                         [](const auto& info) {
                             return info.param == runtime::Engine::Interp ? "interp" : "jit";
                         });

}  // namespace
}  // namespace crib::dump
