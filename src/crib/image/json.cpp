// to_json: the JSON walker over schema.hpp, so every stored field shows up
// under the name the schema gives it.
#include <utility>

#include "crib/image/render.hpp"
#include "crib/image/schema.hpp"

namespace crib::image {
namespace {

using Json = nlohmann::ordered_json;

// nlohmann's dump() throws on invalid UTF-8; file names need not be UTF-8.
// Keeps each well-formed sequence (no overlongs, surrogates or code points
// past U+10FFFF) and replaces every other byte with U+FFFD.
std::string valid_utf8(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    size_t i = 0;
    while (i < s.size()) {
        auto lead = uint8_t(s[i]);
        size_t length = lead < 0x80         ? 1
                        : lead >> 5 == 0x6  ? 2
                        : lead >> 4 == 0xe  ? 3
                        : lead >> 3 == 0x1e ? 4
                                            : 0;
        bool ok = length != 0 && i + length <= s.size();
        uint32_t code = length == 1 ? lead : lead & (0x7f >> length);
        for (size_t k = 1; ok && k < length; ++k) {
            auto next = uint8_t(s[i + k]);
            ok = (next & 0xc0) == 0x80;
            code = code << 6 | (next & 0x3f);
        }
        static constexpr uint32_t kSmallest[] = {0, 0, 0x80, 0x800, 0x10000};
        ok = ok && code >= kSmallest[length] && code <= 0x10ffff &&
             !(code >= 0xd800 && code <= 0xdfff);
        if (ok) {
            out.append(s.substr(i, length));
            i += length;
        } else {
            out += "\xef\xbf\xbd";
            ++i;
        }
    }
    return out;
}

std::string hex_bytes(const uint8_t* data, size_t size) {
    static constexpr char kDigits[] = "0123456789abcdef";
    std::string out;
    out.reserve(size * 2);
    for (size_t i = 0; i < size; ++i) {
        out += kDigits[data[i] >> 4];
        out += kDigits[data[i] & 0xf];
    }
    return out;
}

class JsonWriter {
public:
    explicit JsonWriter(Json& root) : m_at(&root) {}

    template <std::integral T>
    void num(std::string_view name, const T& v) {
        put(name, v);
    }
    template <std::unsigned_integral T>
    void hex(std::string_view name, const T& v) {
        put(name, hex_string(v));
    }
    void sigset(std::string_view name, const uint64_t& v) { put(name, sigset_names(v)); }
    template <std::integral T, typename Text>
    void named(std::string_view name, const T& v, Text text) {
        put(name, v);
        put(std::string(name) + "_text", text(v));
    }
    template <typename E, size_t N>
    void choice(std::string_view name, const E& v, const std::array<std::string_view, N>& names) {
        auto index = size_t(v);
        if (index < N)
            put(name, names[index]);
        else
            put(name, index);
    }
    void text(std::string_view name, const std::string& v) { put(name, valid_utf8(v)); }
    void blob(std::string_view name, const std::vector<uint8_t>& v) {
        put(name, hex_bytes(v.data(), v.size()));
    }
    template <size_t N>
    void raw(std::string_view name, const std::array<uint8_t, N>& v) {
        put(name, hex_bytes(v.data(), N));
    }
    template <typename T>
    void object(std::string_view name, const T& v) {
        Json child = Json::object();
        nest(child, [&] { fields(*this, v); });
        put(name, std::move(child));
    }
    template <typename T, typename Each>
    void list(std::string_view name, const std::vector<T>& v, Each each) {
        Json array = Json::array();
        for (const auto& element : v) {
            Json child;
            nest(child, [&] { each(*this, element); });
            array.push_back(std::move(child));
        }
        put(name, std::move(array));
    }
    template <typename T, size_t N, typename Key, typename Each>
    void table(std::string_view name, const std::array<T, N>& v, Key key, Each each) {
        Json object = Json::object();
        for (size_t i = 0; i < N; ++i) {
            Json child;
            nest(child, [&] { each(*this, v[i]); });
            object[key(i)] = std::move(child);
        }
        put(name, std::move(object));
    }
    template <typename F>
    void derived(std::string_view name, F&& compute) {
        put(name, compute());
    }

private:
    // An element of a list or table arrives with no name and is the value.
    void put(std::string_view name, Json value) {
        if (name.empty())
            *m_at = std::move(value);
        else
            (*m_at)[std::string(name)] = std::move(value);
    }
    template <typename F>
    void nest(Json& at, F&& walk) {
        Json* outer = std::exchange(m_at, &at);
        walk();
        m_at = outer;
    }

    Json* m_at;
};

}  // namespace

Totals totals(const Image& image) {
    const Process& process = image.process;
    Totals out;
    out.threads = process.threads.size();
    out.vmas = process.vmas.size();
    out.files = process.files.size();
    out.pending_signals = process.task.shared_pending.size();
    for (const auto& thread : process.threads) out.pending_signals += thread.pending.size();
    for (const auto& vma : process.vmas) {
        out.page_runs += vma.pages.size();
        out.saved_bytes += saved_bytes(vma);
    }
    return out;
}

nlohmann::ordered_json to_json(const Image& image) {
    Json doc = Json::object();
    doc["format_version"] = kFormatVersion;
    JsonWriter writer(doc);
    for_each_record_type([&](auto record) {
        using R = decltype(record);
        if constexpr (R::kRepeated)
            writer.list(R::kKey, R::slot(image), kAsObject);
        else
            writer.object(R::kKey, R::slot(image));
    });
    Totals sums = totals(image);
    doc["totals"] = {{"threads", sums.threads},
                     {"vmas", sums.vmas},
                     {"files", sums.files},
                     {"page_runs", sums.page_runs},
                     {"saved_bytes", sums.saved_bytes},
                     {"pending_signals", sums.pending_signals}};
    return doc;
}

}  // namespace crib::image
