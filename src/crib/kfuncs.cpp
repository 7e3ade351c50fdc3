#include "crib/kfuncs.hpp"

#include <map>
#include <memory>
#include <mutex>
#include <variant>

#include "crib/records.hpp"
#include "crib/types_btf.hpp"
#include "progs/kfuncs.hpp"

namespace crib::dump {
namespace {

std::mutex g_sessions_lock;
std::map<int32_t, KfuncSession*> g_sessions;

KfuncSession* find_session(uint64_t pid) {
    std::lock_guard guard(g_sessions_lock);
    auto it = g_sessions.find(static_cast<int32_t>(pid));
    return it == g_sessions.end() ? nullptr : it->second;
}

uint64_t negative(int code) {
    return static_cast<uint64_t>(-static_cast<int64_t>(code));
}

uint64_t task_info(uint64_t pid, uint64_t out, uint64_t size, uint64_t, uint64_t) {
    KfuncSession* session = find_session(pid);
    if (!session) return negative(ESRCH);
    if (size < sizeof(crib_task_info)) return negative(EINVAL);
    auto* record = reinterpret_cast<crib_task_info*>(out);
    if (auto filled = fill_task(session->process().task, *record); !filled) {
        session->fail(std::move(filled).error());
        return negative(E2BIG);
    }
    return 0;
}

// One open-coded iterator's state, behind the first word of its stack
// object: where it stands and the record it hands out last.
template <typename Record>
struct IterState {
    KfuncSession* session;
    size_t index = 0;  // items handed out
    Record record{};
};

// Each iterator kind: how many items, and how to fill item i.
struct ThreadItems {
    using Record = crib_thread;
    static constexpr std::string_view kRecord = "crib_thread";
    static size_t count(const image::Process& p) { return p.threads.size(); }
    static Result<void> fill(const image::Process& p, size_t i, Record& out) {
        return fill_thread(p.threads[i], out);
    }
};

struct VmaItems {
    using Record = crib_vma;
    static constexpr std::string_view kRecord = "crib_vma";
    static size_t count(const image::Process& p) { return p.vmas.size(); }
    static Result<void> fill(const image::Process& p, size_t i, Record& out) {
        return fill_vma(p.vmas[i], out);
    }
};

struct FileItems {
    using Record = crib_file;
    static constexpr std::string_view kRecord = "crib_file";
    static size_t count(const image::Process& p) { return p.files.size(); }
    static Result<void> fill(const image::Process& p, size_t i, Record& out) {
        return fill_file(p.files[i], out);
    }
};

// Item i of the flattened list: each thread's queued signals, then the
// process-wide ones.
struct SignalItems {
    using Record = crib_signal;
    static constexpr std::string_view kRecord = "crib_signal";
    static size_t count(const image::Process& p) {
        size_t n = p.task.shared_pending.size();
        for (const image::Thread& thread : p.threads) n += thread.pending.size();
        return n;
    }
    static Result<void> fill(const image::Process& p, size_t i, Record& out) {
        for (const image::Thread& thread : p.threads) {
            if (i < thread.pending.size()) {
                fill_signal(thread.tid, thread.pending[i], out);
                return {};
            }
            i -= thread.pending.size();
        }
        fill_signal(0, p.task.shared_pending[i], out);
        return {};
    }
};

// Item i: the i-th CRIB_CHUNK_MAX slice of all pipe bytes, file by file.
struct ChunkItems {
    using Record = crib_chunk;
    static constexpr std::string_view kRecord = "crib_chunk";
    static size_t chunks(const image::FileDesc& file) {
        return (file.data.size() + CRIB_CHUNK_MAX - 1) / CRIB_CHUNK_MAX;
    }
    static size_t count(const image::Process& p) {
        size_t n = 0;
        for (const image::FileDesc& file : p.files) n += chunks(file);
        return n;
    }
    static Result<void> fill(const image::Process& p, size_t i, Record& out) {
        for (const image::FileDesc& file : p.files) {
            if (i >= chunks(file)) {
                i -= chunks(file);
                continue;
            }
            size_t offset = i * CRIB_CHUNK_MAX;
            size_t size = std::min<size_t>(CRIB_CHUNK_MAX, file.data.size() - offset);
            out.kind = CRIB_REC_CHUNK;
            out.fd = file.fd;
            out.offset = offset;
            out.size = static_cast<uint32_t>(size);
            std::copy_n(file.data.begin() + static_cast<ptrdiff_t>(offset), size, out.data);
            return {};
        }
        return make_error(ERANGE, "pipe chunk {} past the end", i);
    }
};

template <typename Items>
struct Iterator {
    using State = IterState<typename Items::Record>;

    static State*& slot(uint64_t it) { return *reinterpret_cast<State**>(it); }

    // Leaves a destroyable iterator even when it fails, as the kernel's
    // _new kfuncs do.
    static uint64_t create(uint64_t it, uint64_t pid, uint64_t, uint64_t, uint64_t) {
        slot(it) = nullptr;
        KfuncSession* session = find_session(pid);
        if (!session) return negative(ESRCH);
        slot(it) = new State{session};
        return 0;
    }

    static uint64_t next(uint64_t it, uint64_t, uint64_t, uint64_t, uint64_t) {
        State* state = slot(it);
        if (!state) return 0;
        const image::Process& process = state->session->process();
        if (state->index >= Items::count(process)) return 0;
        if (auto filled = Items::fill(process, state->index, state->record); !filled) {
            state->session->fail(std::move(filled).error());
            return 0;
        }
        state->index++;
        return reinterpret_cast<uint64_t>(&state->record);
    }

    static uint64_t destroy(uint64_t it, uint64_t, uint64_t, uint64_t, uint64_t) {
        delete slot(it);
        slot(it) = nullptr;
        return 0;
    }

    // The three kfuncs of bpf_iter_<name>, sized by the BPF view of the
    // iterator and of the record it hands out.
    static Result<void> add_to(std::vector<progs::Kfunc>& set, std::string_view name,
                               const btf::Btf& types) {
        using progs::ArgKind;
        using progs::RetKind;
        progs::KfuncProto proto;
        proto.iter = name;
        proto.iter_size = CRIB_TRY(struct_size(types, fmt::format("bpf_iter_{}", name)));
        // The verifier lets a program touch what the BTF says; the kfuncs
        // keep a pointer in the iterator and hand out a C++ record.
        if (proto.iter_size < sizeof(State*))
            return make_error(EINVAL, "struct bpf_iter_{} is {} bytes, too small for its state",
                              name, proto.iter_size);
        proto.args[0] = {ArgKind::PtrToIter, 0};

        progs::KfuncProto create_proto = proto;
        create_proto.args[1] = {ArgKind::Anything, 0};
        set.push_back(
            {fmt::format("bpf_iter_{}_new", name), &create, progs::kKfIterNew, create_proto});

        // _next hands out a read-only struct crib_<record> the verifier
        // types from crib's BTF.
        progs::KfuncProto next_proto = proto;
        CRIB_TRY(progs::set_ret_struct(next_proto, types, Items::kRecord));
        next_proto.ret.flags = progs::kRetMaybeNull;
        if (next_proto.ret_size != sizeof(typename Items::Record))
            return make_error(EINVAL, "struct {} is {} bytes in crib's types BTF but {} in crib",
                              Items::kRecord, next_proto.ret_size, sizeof(typename Items::Record));
        set.push_back({fmt::format("bpf_iter_{}_next", name), &next,
                       progs::kKfIterNext | progs::kKfRetNull, next_proto});

        progs::KfuncProto destroy_proto = proto;
        destroy_proto.ret = {RetKind::Void, 0};
        set.push_back({fmt::format("bpf_iter_{}_destroy", name), &destroy, progs::kKfIterDestroy,
                       destroy_proto});
        return {};
    }
};

}  // namespace

Result<progs::KfuncSet> checkpoint_kfunc_set(const btf::Btf& types) {
    using progs::ArgKind;
    progs::KfuncSet set{kCheckpointKfuncSet, {}};
    progs::KfuncProto task_proto;
    task_proto.args[0] = {ArgKind::Anything, 0};
    task_proto.args[1] = {ArgKind::PtrToMem, progs::kUninit};
    task_proto.args[2] = {ArgKind::ConstSize, 0};
    set.kfuncs.push_back({"bpf_crib_task_info", &task_info, 0, task_proto});
    CRIB_TRY(Iterator<ThreadItems>::add_to(set.kfuncs, "crib_thread", types));
    CRIB_TRY(Iterator<SignalItems>::add_to(set.kfuncs, "crib_signal", types));
    CRIB_TRY(Iterator<VmaItems>::add_to(set.kfuncs, "crib_vma", types));
    CRIB_TRY(Iterator<FileItems>::add_to(set.kfuncs, "crib_file", types));
    CRIB_TRY(Iterator<ChunkItems>::add_to(set.kfuncs, "crib_chunk", types));
    return set;
}

Result<void> register_checkpoint_kfuncs() {
    static const Result<void> registered = []() -> Result<void> {
        auto types = CRIB_TRY(crib_types_btf());
        auto set = checkpoint_kfunc_set(*types);
        if (!set)
            return make_error(set.error().code(), "cannot register {}: {}", kCheckpointKfuncSet,
                              set.error().message());
        return progs::register_kfunc_set(progs::ProgType::Crib, std::move(*set));
    }();
    return registered;
}

Result<std::unique_ptr<KfuncSession>> KfuncSession::open(const image::Process& process) {
    std::unique_ptr<KfuncSession> session(new KfuncSession(process));
    std::lock_guard guard(g_sessions_lock);
    if (!g_sessions.emplace(process.task.pid, session.get()).second)
        return make_error(EBUSY, "process {} is already being dumped", process.task.pid);
    return session;
}

KfuncSession::~KfuncSession() {
    std::lock_guard guard(g_sessions_lock);
    // A session refused for a busy pid never entered the table.
    auto it = g_sessions.find(m_process.task.pid);
    if (it != g_sessions.end() && it->second == this) g_sessions.erase(it);
}

void KfuncSession::fail(Error error) {
    std::lock_guard guard(g_sessions_lock);
    if (!m_error) m_error = std::move(error);
}

Result<void> KfuncSession::status() const {
    std::lock_guard guard(g_sessions_lock);
    if (m_error) return *m_error;
    return {};
}

}  // namespace crib::dump
