// The one description of what core.img holds: the records of an image and,
// for every model type, its fields in stored order. The binary writer and
// reader (codec.cpp) and the JSON rendering (json.cpp) are walkers over this
// description, so a field is named here once and nowhere else; adding a field
// to the model means adding one line here (and bumping kFormatVersion).
//
// A walker `io` provides, for a field called `name` holding `v` (const when
// writing):
//   num(name, v)              an integer of v's width
//   hex(name, v)              an integer shown in hex (addresses, masks)
//   sigset(name, v)           a u64 signal set
//   named(name, v, text)      an integer with a text form, text(uint64_t)
//   choice(name, v, names)    an enum stored as one byte; names lists its values
//   text(name, v)             a std::string
//   blob(name, v)             a std::vector<uint8_t>
//   raw(name, v)              a std::array<uint8_t, N>
//   object(name, v)           a nested struct (its own fields())
//   list(name, v, each)       a std::vector; each(io, element)
//   table(name, v, key, each) a std::array whose slots key(index) names
//   derived(name, compute)    not stored: a value shown to readers (JSON)
// Elements of lists and tables are walked with an empty name.
#pragma once

#include <concepts>
#include <cstdint>
#include <string_view>
#include <tuple>
#include <type_traits>

#include "crib/image/image.hpp"
#include "crib/image/names.hpp"

namespace crib::image {

template <typename T, typename U>
concept Like = std::same_as<std::remove_const_t<T>, U>;

template <typename Io, Like<Credentials> T>
void fields(Io& io, T& creds);
template <typename Io, Like<Rlimit> T>
void fields(Io& io, T& limit);
template <typename Io, Like<SigAction> T>
void fields(Io& io, T& action);
template <typename Io, Like<PendingSignal> T>
void fields(Io& io, T& signal);
template <typename Io, Like<Itimer> T>
void fields(Io& io, T& timer);
template <typename Io, Like<MmLayout> T>
void fields(Io& io, T& mm);
template <typename Io, Like<Task> T>
void fields(Io& io, T& task);
template <typename Io, Like<SigAltStack> T>
void fields(Io& io, T& stack);
template <typename Io, Like<Rseq> T>
void fields(Io& io, T& rseq);
template <typename Io, Like<Thread> T>
void fields(Io& io, T& thread);
template <typename Io, Like<PageRun> T>
void fields(Io& io, T& run);
template <typename Io, Like<Vma> T>
void fields(Io& io, T& vma);
template <typename Io, Like<FileDesc> T>
void fields(Io& io, T& file);
template <typename Io, Like<DumpInfo> T>
void fields(Io& io, T& info);

// How the elements of a list or table are walked.
inline constexpr auto kAsNum = [](auto& io, auto& v) { io.num({}, v); };
inline constexpr auto kAsHex = [](auto& io, auto& v) { io.hex({}, v); };
inline constexpr auto kAsObject = [](auto& io, auto& v) { fields(io, v); };

template <typename Io, Like<Credentials> T>
void fields(Io& io, T& creds) {
    io.table("uids", creds.uids, id_key, kAsNum);
    io.table("gids", creds.gids, id_key, kAsNum);
    io.list("groups", creds.groups, kAsNum);
    io.hex("cap_inheritable", creds.cap_inheritable);
    io.hex("cap_permitted", creds.cap_permitted);
    io.hex("cap_effective", creds.cap_effective);
    io.hex("cap_bounding", creds.cap_bounding);
    io.hex("cap_ambient", creds.cap_ambient);
}

template <typename Io, Like<Rlimit> T>
void fields(Io& io, T& limit) {
    io.num("cur", limit.cur);
    io.num("max", limit.max);
}

template <typename Io, Like<SigAction> T>
void fields(Io& io, T& action) {
    io.hex("handler", action.handler);
    io.named("flags", action.flags, sa_flags_string);
    io.hex("restorer", action.restorer);
    io.sigset("mask", action.mask);
}

template <typename Io, Like<PendingSignal> T>
void fields(Io& io, T& signal) {
    io.derived("signal", [&] { return signal_name(uint32_t(siginfo_signo(signal))); });
    io.derived("code", [&] { return siginfo_code(signal); });
    io.raw("siginfo", signal.siginfo);
}

template <typename Io, Like<Itimer> T>
void fields(Io& io, T& timer) {
    io.num("interval_us", timer.interval_us);
    io.num("value_us", timer.value_us);
}

template <typename Io, Like<MmLayout> T>
void fields(Io& io, T& mm) {
    io.hex("start_code", mm.start_code);
    io.hex("end_code", mm.end_code);
    io.hex("start_data", mm.start_data);
    io.hex("end_data", mm.end_data);
    io.hex("start_brk", mm.start_brk);
    io.hex("brk", mm.brk);
    io.hex("start_stack", mm.start_stack);
    io.hex("arg_start", mm.arg_start);
    io.hex("arg_end", mm.arg_end);
    io.hex("env_start", mm.env_start);
    io.hex("env_end", mm.env_end);
    io.list("auxv", mm.auxv, kAsHex);
}

template <typename Io, Like<Task> T>
void fields(Io& io, T& task) {
    io.num("pid", task.pid);
    io.num("ppid", task.ppid);
    io.num("pgid", task.pgid);
    io.num("sid", task.sid);
    io.text("comm", task.comm);
    io.text("exe", task.exe);
    io.text("cwd", task.cwd);
    io.text("root", task.root);
    io.named("umask", task.umask, octal_string);
    io.hex("personality", task.personality);
    io.object("creds", task.creds);
    io.table("rlimits", task.rlimits, rlimit_key, kAsObject);
    io.table("sigactions", task.sigactions, sigaction_key, kAsObject);
    io.list("shared_pending", task.shared_pending, kAsObject);
    io.table("itimers", task.itimers, itimer_key, kAsObject);
    io.object("mm", task.mm);
}

template <typename Io, Like<SigAltStack> T>
void fields(Io& io, T& stack) {
    io.hex("sp", stack.sp);
    io.num("size", stack.size);
    io.named("flags", stack.flags, ss_flags_string);
}

template <typename Io, Like<Rseq> T>
void fields(Io& io, T& rseq) {
    io.hex("address", rseq.address);
    io.num("length", rseq.length);
    io.num("flags", rseq.flags);
    io.hex("signature", rseq.signature);
}

template <typename Io, Like<Thread> T>
void fields(Io& io, T& thread) {
    io.num("tid", thread.tid);
    io.table("regs", thread.regs, register_key, kAsHex);
    io.blob("xstate", thread.xstate);
    io.sigset("blocked", thread.blocked);
    io.list("pending", thread.pending, kAsObject);
    io.object("altstack", thread.altstack);
    io.object("rseq", thread.rseq);
    io.hex("clear_child_tid", thread.clear_child_tid);
}

template <typename Io, Like<PageRun> T>
void fields(Io& io, T& run) {
    io.hex("address", run.address);
    io.num("length", run.length);
    io.hex("file_offset", run.file_offset);
    io.hex("checksum", run.checksum);
}

template <typename Io, Like<Vma> T>
void fields(Io& io, T& vma) {
    io.hex("start", vma.start);
    io.hex("end", vma.end);
    io.named("prot", vma.prot, prot_string);
    io.derived("perms", [&] { return perms_string(vma); });
    io.named("flags", vma.flags, map_flags_string);
    io.choice("kind", vma.kind, kVmaKindNames);
    io.hex("pgoff", vma.pgoff);
    io.text("path", vma.path);
    io.named("dev", vma.dev, dev_string);
    io.num("ino", vma.ino);
    io.list("pages", vma.pages, kAsObject);
    io.derived("saved_bytes", [&] { return saved_bytes(vma); });
}

template <typename Io, Like<FileDesc> T>
void fields(Io& io, T& file) {
    io.num("fd", file.fd);
    io.choice("kind", file.kind, kFileKindNames);
    io.named("flags", file.flags, open_flags_string);
    io.num("pos", file.pos);
    io.text("path", file.path);
    io.named("dev", file.dev, dev_string);
    io.num("ino", file.ino);
    io.named("mode", file.mode, octal_string);
    io.blob("data", file.data);
    io.num("eventfd_count", file.eventfd_count);
    io.named("eventfd_flags", file.eventfd_flags, efd_flags_string);
}

template <typename Io, Like<DumpInfo> T>
void fields(Io& io, T& info) {
    io.text("collector", info.collector);
    io.text("kernel_release", info.kernel_release);
    io.num("time_ns", info.time_ns);
    io.derived("time", [&] { return time_string(info.time_ns); });
    io.num("page_bytes", info.page_bytes);
}

// The records of core.img. Each row: the tag stored in the record head, the
// name errors and docs use, the key in JSON, whether it repeats (one record
// per element) and whether an image without it is refused. Tags are never
// reused; records are written in this order.
enum class RecordTag : uint16_t { Info = 1, Task = 2, Thread = 3, Vma = 4, File = 5 };

struct InfoRecord {
    static constexpr RecordTag kTag = RecordTag::Info;
    static constexpr std::string_view kName = "info", kKey = "info";
    static constexpr bool kRepeated = false, kRequired = true;
    static auto& slot(auto& image) { return image.info; }
};

struct TaskRecord {
    static constexpr RecordTag kTag = RecordTag::Task;
    static constexpr std::string_view kName = "task", kKey = "task";
    static constexpr bool kRepeated = false, kRequired = true;
    static auto& slot(auto& image) { return image.process.task; }
};

struct ThreadRecord {
    static constexpr RecordTag kTag = RecordTag::Thread;
    static constexpr std::string_view kName = "thread", kKey = "threads";
    static constexpr bool kRepeated = true, kRequired = true;
    static auto& slot(auto& image) { return image.process.threads; }
};

struct VmaRecord {
    static constexpr RecordTag kTag = RecordTag::Vma;
    static constexpr std::string_view kName = "vma", kKey = "vmas";
    static constexpr bool kRepeated = true, kRequired = false;
    static auto& slot(auto& image) { return image.process.vmas; }
};

struct FileRecord {
    static constexpr RecordTag kTag = RecordTag::File;
    static constexpr std::string_view kName = "file", kKey = "files";
    static constexpr bool kRepeated = true, kRequired = false;
    static auto& slot(auto& image) { return image.process.files; }
};

using RecordTypes = std::tuple<InfoRecord, TaskRecord, ThreadRecord, VmaRecord, FileRecord>;

// Calls f(Record{}) for each record type, in file order.
template <typename F>
void for_each_record_type(F&& f) {
    std::apply([&](auto... record) { (f(record), ...); }, RecordTypes{});
}

}  // namespace crib::image
