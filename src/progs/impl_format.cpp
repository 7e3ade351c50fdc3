// bpf_trace_printk and bpf_snprintf over the format subset the kernel's
// bpf_bprintf_prepare accepts: %d %i %u %x %X with l/ll, %c, %s, %p (and
// %pK %px %ps %pS, all printed as 0x-prefixed hex: nothing in user space to
// hash or symbolise), %%, and "[0 +-][width]" before each. %pI4/%pi6 and %pB
// are refused (EINVAL) for now.
#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>

#include "progs/helper_impls.hpp"
#include "progs/helpers.hpp"

namespace crib::progs {
namespace {

// MAX_BPRINTF_BUF: the kernel formats into a buffer of this size.
constexpr size_t kBprintfBuf = 512;
constexpr size_t kMaxTracePrintkArgs = 3;  // MAX_TRACE_PRINTK_VARARGS
constexpr size_t kMaxBprintfArgs = 12;     // MAX_BPRINTF_VARARGS

struct TraceSink {
    std::mutex lock;
    std::shared_ptr<const LogSink> sink;
};
TraceSink& trace_sink() {
    static TraceSink holder;
    return holder;
}

}  // namespace

void set_trace_sink(LogSink sink) {
    auto& holder = trace_sink();
    std::lock_guard guard(holder.lock);
    holder.sink = sink ? std::make_shared<const LogSink>(std::move(sink)) : nullptr;
}

namespace impl {
namespace {

bool allowed_char(char c) {
    auto u = static_cast<unsigned char>(c);
    return u < 0x80 && (std::isprint(u) || std::isspace(u));
}

template <typename T>
void append(std::string& out, const std::string& spec, T value) {
    char buf[64];
    int n = std::snprintf(buf, sizeof buf, spec.c_str(), value);
    if (n > 0) out.append(buf, std::min<size_t>(static_cast<size_t>(n), sizeof buf - 1));
}

}  // namespace

long format(const char* fmt, std::span<const uint64_t> args, std::string& out) {
    out.clear();
    size_t next_arg = 0;
    for (size_t i = 0; fmt[i]; ++i) {
        if (!allowed_char(fmt[i])) return -EINVAL;
        if (fmt[i] != '%') {
            out.push_back(fmt[i]);
            continue;
        }
        if (fmt[i + 1] == '%') {
            out.push_back('%');
            ++i;
            continue;
        }
        if (next_arg >= args.size()) return -EINVAL;
        const uint64_t arg = args[next_arg++];
        std::string spec = "%";
        ++i;
        while (fmt[i] == '0' || fmt[i] == '+' || fmt[i] == '-' || fmt[i] == ' ') spec += fmt[i++];
        if (fmt[i] >= '1' && fmt[i] <= '9')
            while (fmt[i] >= '0' && fmt[i] <= '9') spec += fmt[i++];

        const char c = fmt[i];
        if (c == 'p') {
            const char next = fmt[i + 1];
            const bool plain = next == 0 || std::isspace(static_cast<unsigned char>(next)) ||
                               std::ispunct(static_cast<unsigned char>(next));
            const bool suffix = next == 'K' || next == 'x' || next == 's' || next == 'S';
            if (!plain && !suffix) return -EINVAL;
            if (suffix) ++i;
            char hex[32];
            std::snprintf(hex, sizeof hex, "0x%llx", static_cast<unsigned long long>(arg));
            append(out, spec + "s", hex);
            continue;
        }
        if (c == 's') {
            const char next = fmt[i + 1];
            if (next != 0 && !std::isspace(static_cast<unsigned char>(next)) &&
                !std::ispunct(static_cast<unsigned char>(next)))
                return -EINVAL;
            // A string the program points at may be anywhere: read it as
            // the kernel does, fault-safely, and print nothing on a fault.
            char str[kBprintfBuf];
            long n =
                arg ? safe_copy_str(str, reinterpret_cast<const char*>(arg), sizeof str) : -EFAULT;
            if (n < 0) str[0] = 0;
            char buf[kBprintfBuf + 64];
            int w = std::snprintf(buf, sizeof buf, (spec + "s").c_str(), str);
            if (w > 0) out.append(buf, std::min<size_t>(static_cast<size_t>(w), sizeof buf - 1));
            continue;
        }
        if (c == 'c') {
            append(out, spec + "c", static_cast<int>(static_cast<unsigned char>(arg)));
            continue;
        }
        int longs = 0;
        if (fmt[i] == 'l') ++longs, ++i;
        if (fmt[i] == 'l') ++longs, ++i;
        const char conv = fmt[i];
        if (conv != 'd' && conv != 'i' && conv != 'u' && conv != 'x' && conv != 'X') return -EINVAL;
        const bool is_signed = conv == 'd' || conv == 'i';
        if (longs == 0) {
            spec += conv;
            if (is_signed)
                append(out, spec, static_cast<int>(static_cast<uint32_t>(arg)));
            else
                append(out, spec, static_cast<unsigned>(arg));
        } else {
            spec += "ll";
            spec += conv;
            if (is_signed)
                append(out, spec, static_cast<long long>(arg));
            else
                append(out, spec, static_cast<unsigned long long>(arg));
        }
    }
    return static_cast<long>(out.size());
}

// bpf_trace_printk(fmt, fmt_size, a1, a2, a3): fmt must hold a NUL within
// fmt_size. The line is cut to the kernel's buffer; the return value is the
// length the whole line would have had.
u64 trace_printk(u64 fmt_reg, u64 fmt_size, u64 a1, u64 a2, u64 a3) {
    const char* fmt = reinterpret_cast<const char*>(fmt_reg);
    if (!fmt_size || !std::memchr(fmt, 0, fmt_size)) return neg(EINVAL);
    const uint64_t args[kMaxTracePrintkArgs] = {a1, a2, a3};
    std::string line;
    long err = format(fmt, args, line);
    if (err < 0) return static_cast<u64>(err);
    const size_t full = line.size();
    if (line.size() > kBprintfBuf - 1) line.resize(kBprintfBuf - 1);
    std::shared_ptr<const LogSink> sink;
    {
        auto& holder = trace_sink();
        std::lock_guard guard(holder.lock);
        sink = holder.sink;
    }
    if (sink && *sink) (*sink)(LogLevel::Info, line);
    return full;
}

// bpf_snprintf(str, str_size, fmt, data, data_len): data is an array of u64
// arguments, data_len its size in bytes. Returns the length the whole output
// would need, NUL included, as the kernel does.
u64 snprintf(u64 str_reg, u64 str_size, u64 fmt_reg, u64 data_reg, u64 data_len) {
    if (data_len % 8 || data_len > kMaxBprintfArgs * 8 || (data_len && !data_reg))
        return neg(EINVAL);
    std::span<const uint64_t> args(reinterpret_cast<const uint64_t*>(data_reg), data_len / 8);
    std::string text;
    long err = format(reinterpret_cast<const char*>(fmt_reg), args, text);
    if (err < 0) return static_cast<u64>(err);
    if (str_size) {
        char* str = reinterpret_cast<char*>(str_reg);
        size_t n = std::min<size_t>(text.size(), str_size - 1);
        std::memcpy(str, text.data(), n);
        str[n] = 0;
    }
    return text.size() + 1;
}

}  // namespace impl
}  // namespace crib::progs
