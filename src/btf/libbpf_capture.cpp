#include "btf/libbpf_capture.hpp"

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <mutex>

namespace crib::btf {
namespace {

constexpr size_t kMaxSaid = 4096;

// libbpf's print hook is one per process: installed once, never swapped
// back (guards on two threads would restore each other's hooks), it keeps
// what is said on a thread inside a guard and passes the rest on to the
// hook it replaced.
libbpf_print_fn_t g_previous = nullptr;
std::once_flag g_installed;
thread_local std::string t_said;
thread_local LibbpfCapture::Levels t_levels = LibbpfCapture::Levels::Warnings;
thread_local int t_depth = 0;

int capture(enum libbpf_print_level level, const char* format, va_list args) {
    if (t_depth == 0) return g_previous ? g_previous(level, format, args) : 0;
    if (level == LIBBPF_DEBUG && t_levels != LibbpfCapture::Levels::WithDebug) return 0;
    char line[1024];
    int n = std::vsnprintf(line, sizeof line, format, args);
    if (n <= 0) return n;
    std::string_view text(line);
    if (text.starts_with("libbpf: ")) text.remove_prefix(8);
    while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
    if (text.empty() || t_said.size() > kMaxSaid) return n;
    if (!t_said.empty()) t_said += "; ";
    t_said += text;
    return n;
}

}  // namespace

LibbpfCapture::LibbpfCapture(Levels levels) : m_outer(t_levels) {
    std::call_once(g_installed, [] { g_previous = libbpf_set_print(capture); });
    ++t_depth;
    t_levels = levels;
    t_said.clear();
}

LibbpfCapture::~LibbpfCapture() {
    --t_depth;
    t_levels = m_outer;
}

const std::string& LibbpfCapture::said() {
    return t_said;
}

Error libbpf_error(int err, std::string_view what) {
    int code = err < 0 ? -err : err;
    if (code == 0) code = EINVAL;
    const std::string& said = LibbpfCapture::said();
    if (said.empty()) return make_error(code, "{}: {}", what, errno_name(code));
    return make_error(code, "{}: {} ({})", what, errno_name(code), said);
}

}  // namespace crib::btf
