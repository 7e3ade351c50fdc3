// Loading as named phases, in libbpf's order: open (ELF), load_btf (.BTF,
// .BTF.ext), collect (programs, maps, license), relocate (CO-RE, maps,
// globals, externs, subprogram linking), finish. Each phase refuses to run
// out of order or after a failure, so a half-loaded object never escapes.
#pragma once

#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "base/result.hpp"
#include "object/object.hpp"

namespace crib::object {

enum class Phase : uint8_t { Created, Opened, BtfLoaded, Collected, Relocated, Finished, Failed };

std::string_view phase_name(Phase phase);

struct LoaderState;

class Loader {
public:
    Loader(std::string name, LoadOptions options = {});
    Loader(Loader&&) noexcept;
    Loader& operator=(Loader&&) noexcept;
    ~Loader();

    Result<void> open(std::span<const uint8_t> bytes);
    Result<void> load_btf();
    Result<void> collect();
    Result<void> relocate();
    // Hand over the object; the loader is spent afterwards.
    Result<Object> finish();

    Phase phase() const;

private:
    // Runs one phase if the loader is in `expected`, moving to `next` on
    // success and to Failed (with the object name filled in) on error.
    template <typename Fn>
    Result<void> step(Phase expected, Phase next, std::string_view what, Fn&& fn);

    std::unique_ptr<LoaderState> m_state;
};

}  // namespace crib::object
