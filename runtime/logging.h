// -----------------------------------------------------------------------------
// File: logging.h
// -----------------------------------------------------------------------------
//
// The framework's own log events (spawn, ready, crash, escalation during
// close, ...) go through one pluggable sink per process. The default sink
// writes records of level `kWarning` and above to stderr.
//
// Example:
//
//   iw::SetLogSink([](const iw::LogRecord& r) { MyLogger(r.level, r.message); },
//                  iw::LogLevel::kInfo);

#ifndef IW_RUNTIME_LOGGING_H_
#define IW_RUNTIME_LOGGING_H_

// First: a clear message when the compiler is not in C++17 mode.
#include "runtime/requirements.h"

#include <functional>
#include <string>

#include "absl/strings/string_view.h"

namespace iw {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

// "debug", "info", "warning", "error".
const char* LogLevelName(LogLevel level);

struct LogRecord {
  LogLevel level;
  // Which worker the event is about ("Ping#1 pid 4242"); empty if none.
  std::string worker_id;
  std::string message;
};

using LogSink = std::function<void(const LogRecord&)>;

// Replaces the process-wide sink and its minimum level. A null sink restores
// the default (stderr). Thread-safe; the sink may be called from any thread
// and must be thread-safe itself.
void SetLogSink(LogSink sink, LogLevel min_level = LogLevel::kWarning);

namespace internal {
// Sends one record to the sink if `level` passes the minimum.
void Log(LogLevel level, absl::string_view worker_id, absl::string_view message);
bool LogEnabled(LogLevel level);
}  // namespace internal

}  // namespace iw

#endif  // IW_RUNTIME_LOGGING_H_
