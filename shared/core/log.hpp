// Logger: where library code sends diagnostics. Library code never writes to stderr itself;
// the owner (the berth CLI's main, the SPANK plugin) injects a sink that does.
#pragma once

#include <functional>
#include <string_view>
#include <utility>

#include <fmt/format.h>

namespace berth {

enum class LogLevel { kError, kWarning, kInfo, kVerbose, kDebug };

std::string_view logLevelName(LogLevel level);

using LogSink = std::function<void(LogLevel, std::string_view)>;

class Logger {
 public:
  // A logger that drops everything.
  Logger() = default;
  Logger(LogSink sink, LogLevel threshold) : sink_(std::move(sink)), threshold_(threshold) {}

  bool enabled(LogLevel level) const { return sink_ && level <= threshold_; }

  void log(LogLevel level, std::string_view message) const {
    if (enabled(level))
      sink_(level, message);
  }

  template <typename... Args>
  void error(fmt::format_string<Args...> f, Args&&... args) const {
    emit(LogLevel::kError, f, std::forward<Args>(args)...);
  }
  template <typename... Args>
  void warning(fmt::format_string<Args...> f, Args&&... args) const {
    emit(LogLevel::kWarning, f, std::forward<Args>(args)...);
  }
  template <typename... Args>
  void info(fmt::format_string<Args...> f, Args&&... args) const {
    emit(LogLevel::kInfo, f, std::forward<Args>(args)...);
  }
  template <typename... Args>
  void verbose(fmt::format_string<Args...> f, Args&&... args) const {
    emit(LogLevel::kVerbose, f, std::forward<Args>(args)...);
  }
  template <typename... Args>
  void debug(fmt::format_string<Args...> f, Args&&... args) const {
    emit(LogLevel::kDebug, f, std::forward<Args>(args)...);
  }

 private:
  template <typename... Args>
  void emit(LogLevel level, fmt::format_string<Args...> f, Args&&... args) const {
    if (enabled(level))
      sink_(level, fmt::format(f, std::forward<Args>(args)...));
  }

  LogSink sink_;
  LogLevel threshold_ = LogLevel::kInfo;
};

}  // namespace berth
