// The CRIB dump programs over the checkpoint kfuncs: what a collector
// gathered comes back, record by record, as the same process.
#include <gtest/gtest.h>

#include "crib/dump_programs.hpp"
#include "crib/image/sample_image.hpp"
#include "crib/kfuncs.hpp"
#include "crib/records.hpp"
#include "maps/ringbuf.hpp"

namespace crib::dump {
namespace {

// The image tests' process with every field set; records carry no page runs.
image::Process sample_process() {
    image::Process p = image::test_data::rich_image().process;
    for (image::Vma& vma : p.vmas) vma.pages.clear();
    // Enough pipe bytes for several chunk records, the last one partial.
    for (image::FileDesc& file : p.files)
        if (file.kind == image::FileKind::Pipe)
            while (file.data.size() < 2 * CRIB_CHUNK_MAX + 100)
                file.data.push_back(static_cast<uint8_t>(file.data.size() * 7));
    return p;
}

size_t pending_signals(const image::Process& p) {
    size_t n = p.task.shared_pending.size();
    for (const auto& thread : p.threads) n += thread.pending.size();
    return n;
}

size_t pipe_chunks(const image::Process& p) {
    size_t n = 0;
    for (const auto& file : p.files) n += (file.data.size() + CRIB_CHUNK_MAX - 1) / CRIB_CHUNK_MAX;
    return n;
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
    for (const auto& signal : p.task.shared_pending) {
        crib_signal shared{};
        fill_signal(0, signal, shared);
        add(shared);
    }
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
    for (const auto& file : p.files)
        for (size_t offset = 0; offset < file.data.size(); offset += CRIB_CHUNK_MAX) {
            auto chunk = std::make_unique<crib_chunk>();
            chunk->kind = CRIB_REC_CHUNK;
            chunk->fd = file.fd;
            chunk->offset = offset;
            chunk->size = std::min<uint32_t>(CRIB_CHUNK_MAX, file.data.size() - offset);
            std::copy_n(file.data.begin() + offset, chunk->size, chunk->data);
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
    const std::map<std::string, size_t> expected_records = {{"dump_task", 1},
                                                            {"dump_threads", p.threads.size()},
                                                            {"dump_signals", pending_signals(p)},
                                                            {"dump_vmas", p.vmas.size()},
                                                            {"dump_files", p.files.size()},
                                                            {"dump_pipe_data", pipe_chunks(p)}};
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
