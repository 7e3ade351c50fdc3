// describe(): the image as text for people. It picks and arranges fields
// (every stored field is in to_json); names come from names.hpp so the two
// renderings agree.
#include <fmt/format.h>

#include <iterator>

#include "crib/image/names.hpp"
#include "crib/image/render.hpp"

namespace crib::image {
namespace {

using Out = std::back_insert_iterator<std::string>;

// The registers a reader looks at first, a line each.
constexpr std::array<std::array<std::string_view, 5>, 3> kMainRegisters{{
    {"rip", "rsp", "rbp", "eflags", "fs_base"},
    {"rax", "orig_rax", "rdi", "rsi", "rdx"},
    {"r10", "r8", "r9", "gs_base", ""},
}};

constexpr std::string_view kIndent = "          ";

std::string microseconds(uint64_t us) {
    return fmt::format("{}.{:06}s", us / 1'000'000, us % 1'000'000);
}

std::string pending_string(const std::vector<PendingSignal>& signals) {
    if (signals.empty()) return "none";
    std::string out;
    for (const auto& signal : signals) {
        if (!out.empty()) out += ' ';
        out += fmt::format("{}(code {})", signal_name(uint32_t(siginfo_signo(signal))),
                           siginfo_code(signal));
    }
    return out;
}

void task_lines(Out out, const Image& image) {
    const Task& task = image.process.task;
    const DumpInfo& info = image.info;
    fmt::format_to(out, "image     format {}, collector {}, kernel {}, dumped {}\n", kFormatVersion,
                   info.collector, info.kernel_release, time_string(info.time_ns));
    fmt::format_to(out,
                   "task      pid {} ({})  ppid {}  pgid {}  sid {}  umask {}  personality {:#x}\n",
                   task.pid, task.comm, task.ppid, task.pgid, task.sid, octal_string(task.umask),
                   task.personality);
    fmt::format_to(out, "{}exe  {}\n{}cwd  {}\n{}root {}\n", kIndent, task.exe, kIndent, task.cwd,
                   kIndent, task.root);

    const Credentials& creds = task.creds;
    fmt::format_to(out, "creds     uid {}  gid {}  (real effective saved fs)\n",
                   fmt::join(creds.uids, "/"), fmt::join(creds.gids, "/"));
    fmt::format_to(out, "{}groups {}\n", kIndent,
                   creds.groups.empty() ? "none" : fmt::format("{}", fmt::join(creds.groups, " ")));
    fmt::format_to(out, "{}caps eff {:#x} prm {:#x} inh {:#x} bnd {:#x} amb {:#x}\n", kIndent,
                   creds.cap_effective, creds.cap_permitted, creds.cap_inheritable,
                   creds.cap_bounding, creds.cap_ambient);

    constexpr size_t kLimitsPerLine = 4;
    for (size_t i = 0; i < task.rlimits.size(); ++i) {
        fmt::format_to(out, "{}{} {}/{}",
                       i == 0               ? "rlimits   "
                       : i % kLimitsPerLine ? "  "
                                            : kIndent,
                       rlimit_key(i), limit_string(task.rlimits[i].cur),
                       limit_string(task.rlimits[i].max));
        if (i % kLimitsPerLine == kLimitsPerLine - 1 || i + 1 == task.rlimits.size()) *out++ = '\n';
    }
}

void signal_lines(Out out, const Task& task) {
    std::string_view head = "signals   ";
    for (size_t i = 0; i < task.sigactions.size(); ++i) {
        const SigAction& action = task.sigactions[i];
        if (action == SigAction{}) continue;
        std::string handler = action.handler == 0   ? "default"
                              : action.handler == 1 ? "ignored"
                                                    : fmt::format("handler {:#x}", action.handler);
        fmt::format_to(out, "{}{:<9} {}", head, sigaction_key(i), handler);
        if (action.flags) fmt::format_to(out, "  flags {}", sa_flags_string(action.flags));
        if (action.mask) fmt::format_to(out, "  mask {}", sigset_string(action.mask));
        if (action.restorer) fmt::format_to(out, "  restorer {:#x}", action.restorer);
        *out++ = '\n';
        head = kIndent;
    }
    if (head != kIndent) fmt::format_to(out, "{}all default\n", head);
    fmt::format_to(out, "{}shared pending {}\n", kIndent, pending_string(task.shared_pending));

    fmt::format_to(out, "itimers  ");
    for (size_t i = 0; i < task.itimers.size(); ++i) {
        const Itimer& timer = task.itimers[i];
        fmt::format_to(out, " {} ", itimer_key(i));
        if (timer.value_us == 0)
            fmt::format_to(out, "disarmed");
        else
            fmt::format_to(out, "in {} {}", microseconds(timer.value_us),
                           timer.interval_us ? "every " + microseconds(timer.interval_us)
                                             : std::string("once"));
        if (i + 1 < task.itimers.size()) *out++ = ';';
    }
    *out++ = '\n';
}

void mm_lines(Out out, const MmLayout& mm) {
    fmt::format_to(out, "mm        code {:#x}-{:#x}  data {:#x}-{:#x}  brk {:#x}-{:#x}\n",
                   mm.start_code, mm.end_code, mm.start_data, mm.end_data, mm.start_brk, mm.brk);
    fmt::format_to(out, "{}stack {:#x}  args {:#x}-{:#x}  env {:#x}-{:#x}  auxv {} entries\n",
                   kIndent, mm.start_stack, mm.arg_start, mm.arg_end, mm.env_start, mm.env_end,
                   mm.auxv.size() / 2);
}

void thread_lines(Out out, const Process& process) {
    fmt::format_to(out, "threads   {}\n", process.threads.size());
    for (size_t t = 0; t < process.threads.size(); ++t) {
        const Thread& thread = process.threads[t];
        fmt::format_to(out, "  tid {}{}\n", thread.tid, t == 0 ? " (leader)" : "");
        for (const auto& line : kMainRegisters) {
            fmt::format_to(out, "   ");
            for (auto name : line)
                if (!name.empty())
                    fmt::format_to(out, " {} {:#x}", name, thread.regs[register_index(name)]);
            *out++ = '\n';
        }
        fmt::format_to(out, "    blocked {}  pending {}  xstate {} bytes\n",
                       sigset_string(thread.blocked), pending_string(thread.pending),
                       thread.xstate.size());
        fmt::format_to(out, "    altstack {:#x}+{} {}  rseq ", thread.altstack.sp,
                       thread.altstack.size, ss_flags_string(thread.altstack.flags));
        if (thread.rseq.address)
            fmt::format_to(out, "{:#x} ({} bytes, sig {:#x})", thread.rseq.address,
                           thread.rseq.length, thread.rseq.signature);
        else
            fmt::format_to(out, "none");
        fmt::format_to(out, "  clear_child_tid {:#x}\n", thread.clear_child_tid);
    }
}

void vma_lines(Out out, const std::vector<Vma>& vmas) {
    fmt::format_to(out, "mappings  {}: maps columns, kind, saved in pages.img, path\n",
                   vmas.size());
    for (const Vma& vma : vmas) {
        uint64_t saved = saved_bytes(vma);
        std::string saved_text =
            saved ? fmt::format("{} in {} run{}", size_string(saved), vma.pages.size(),
                                vma.pages.size() == 1 ? "" : "s")
                  : "-";
        fmt::format_to(out, "  {:08x}-{:08x} {} {:08x} {} {:<8} {:<8} {:<18} {}\n", vma.start,
                       vma.end, perms_string(vma), vma.pgoff, dev_string(vma.dev), vma.ino,
                       vma_kind_name(vma.kind), saved_text, vma.path);
    }
}

void file_lines(Out out, const std::vector<FileDesc>& files) {
    fmt::format_to(out, "files     {}\n", files.size());
    for (const FileDesc& file : files) {
        fmt::format_to(out, "  fd {:<4} {:<11} {:<28} pos {:<10} {}", file.fd,
                       file_kind_name(file.kind), open_flags_string(file.flags), file.pos,
                       file.path);
        if (file.kind == FileKind::Pipe)
            fmt::format_to(out, "  ({} bytes in flight)", file.data.size());
        if (file.kind == FileKind::Eventfd)
            fmt::format_to(out, "  count {} {}", file.eventfd_count,
                           efd_flags_string(file.eventfd_flags));
        *out++ = '\n';
    }
}

}  // namespace

std::string describe(const Image& image) {
    std::string text;
    Out out(text);
    const Process& process = image.process;
    task_lines(out, image);
    signal_lines(out, process.task);
    mm_lines(out, process.task.mm);
    thread_lines(out, process);
    vma_lines(out, process.vmas);
    file_lines(out, process.files);
    Totals sums = totals(image);
    fmt::format_to(out,
                   "totals    {} threads, {} mappings, {} files, {} pending signals, {} saved in "
                   "{} page runs\n",
                   sums.threads, sums.vmas, sums.files, sums.pending_signals,
                   size_string(sums.saved_bytes), sums.page_runs);
    return text;
}

}  // namespace crib::image
