// Libraries never print: they hand lines to a sink the caller provides.
#pragma once

#include <functional>
#include <string_view>

namespace crib {

enum class LogLevel { Debug, Info, Warn, Error };

using LogSink = std::function<void(LogLevel, std::string_view)>;

}  // namespace crib
