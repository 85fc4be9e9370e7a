// -----------------------------------------------------------------------------
// File: logging.h
// -----------------------------------------------------------------------------
//
// The framework's own log events (spawn, ready, crash, escalation during
// close, ...) go through a pluggable sink. Each host can have its own
// (`WorkerOptions::log_sink` / `RemoteOptions::log_sink`), and so can each
// worker (`WorkerConfig::log_sink`); those that have none use the
// process-wide sink set here. The default process-wide sink writes records
// of level `kWarning` and above to stderr.
//
// A record logged on a handler's thread, or about one call, carries that
// call's request id and W3C trace id (see trace_context.h). A handler's own
// logger can read them through `iw::CurrentCallContext()` (call_context.h).
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
#include <memory>
#include <optional>
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
  // The call the record is about (logged on its handler's thread, or about
  // it, e.g. a deadline overrun); empty if none. `trace_id` (32 hex digits)
  // and `span_id` (16 hex digits, the caller's span: traceparent's parent
  // id) only if the call carried a valid W3C trace context.
  std::string request_id;
  std::string trace_id;
  std::string span_id;
};

using LogSink = std::function<void(const LogRecord&)>;

// Replaces the process-wide sink and its minimum level. A null sink restores
// the default (stderr). Thread-safe; the sink may be called from any thread
// and must be thread-safe itself.
void SetLogSink(LogSink sink, LogLevel min_level = LogLevel::kWarning);

// Logs one record of your own through the framework's sink. On a handler's
// thread (or a worker middleware's): the worker's sink (WorkerConfig::
// log_sink; in-process, the host's), with the worker's id and the call's
// request id and trace id; elsewhere the process-wide sink. Thread-safe.
void LogMessage(LogLevel level, absl::string_view message);

namespace internal {

// Where one host's or worker's records go: its own sink and level, else the
// process-wide ones. Cheap to copy; thread-safe.
class Logger {
 public:
  // The process-wide sink and level.
  Logger() = default;
  // `sink` null: the process-wide sink. `min_level` unset: kWarning with a
  // sink of its own, the process-wide level otherwise.
  Logger(LogSink sink, std::optional<LogLevel> min_level);

  bool Enabled(LogLevel level) const;
  // Sends one record if `level` passes the minimum. The call ids come from
  // the call running on this thread, if any.
  void Log(LogLevel level, absl::string_view worker_id, absl::string_view message) const;
  // The same with the record's call ids already set by the caller (those
  // left empty are taken from the call on this thread).
  void Log(LogRecord record) const;

 private:
  std::shared_ptr<const LogSink> sink_;  // null: process-wide
  std::optional<LogLevel> min_level_;    // unset: process-wide
};

// Sends one record to the logger of the call running on this thread (the
// worker's), else to the process-wide sink, if `level` passes its minimum.
void Log(LogLevel level, absl::string_view worker_id, absl::string_view message);
bool LogEnabled(LogLevel level);

}  // namespace internal

}  // namespace iw

#endif  // IW_RUNTIME_LOGGING_H_
