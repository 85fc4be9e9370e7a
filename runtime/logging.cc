#include "runtime/logging.h"

#include <cstdio>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "runtime/call_context.h"

namespace iw {
namespace {

struct SinkState {
  absl::Mutex mu;
  std::shared_ptr<LogSink> sink ABSL_GUARDED_BY(mu);
  LogLevel min_level ABSL_GUARDED_BY(mu) = LogLevel::kWarning;
};

SinkState& State() {
  static SinkState* state = new SinkState;  // never destroyed
  return *state;
}

void DefaultSink(const LogRecord& record) {
  std::string line = absl::StrCat("[iw ", LogLevelName(record.level), "] ",
                                  record.worker_id.empty() ? "" : record.worker_id,
                                  record.worker_id.empty() ? "" : ": ", record.message);
  if (!record.request_id.empty()) absl::StrAppend(&line, " (request ", record.request_id);
  if (!record.trace_id.empty()) {
    absl::StrAppend(&line, record.request_id.empty() ? " (" : ", ", "trace ", record.trace_id,
                    " span ", record.span_id);
  }
  if (!record.request_id.empty() || !record.trace_id.empty()) line += ")";
  line += "\n";
  std::fwrite(line.data(), 1, line.size(), stderr);
}

// The process-wide sink, and whether `level` passes its minimum (or
// `min_level` if set).
std::shared_ptr<LogSink> GlobalSink(LogLevel level, std::optional<LogLevel> min_level,
                                    bool* enabled) {
  SinkState& state = State();
  absl::MutexLock lock(&state.mu);
  *enabled = level >= min_level.value_or(state.min_level);
  return *enabled ? state.sink : nullptr;
}

// The call ids of the call running on this thread, where not set already.
void AddCallIds(LogRecord& record) {
  const CallContext* call = CurrentCallContext();
  if (call == nullptr) return;
  if (record.request_id.empty()) record.request_id = call->request_id();
  if (record.trace_id.empty() && !call->trace().empty()) {
    record.trace_id = std::string(call->trace().trace_id());
    record.span_id = std::string(call->trace().parent_id());
  }
}

}  // namespace

const char* LogLevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "unknown";
}

void SetLogSink(LogSink sink, LogLevel min_level) {
  SinkState& state = State();
  absl::MutexLock lock(&state.mu);
  state.sink = sink ? std::make_shared<LogSink>(std::move(sink)) : nullptr;
  state.min_level = min_level;
}

void LogMessage(LogLevel level, absl::string_view message) {
  internal::Log(level, internal::CurrentCallWorkerId(), message);
}

namespace internal {

Logger::Logger(LogSink sink, std::optional<LogLevel> min_level)
    : sink_(sink ? std::make_shared<const LogSink>(std::move(sink)) : nullptr),
      min_level_(sink_ != nullptr && !min_level ? LogLevel::kWarning : min_level) {}

bool Logger::Enabled(LogLevel level) const {
  if (sink_ != nullptr) return level >= *min_level_;
  bool enabled;
  GlobalSink(level, min_level_, &enabled);
  return enabled;
}

void Logger::Log(LogLevel level, absl::string_view worker_id, absl::string_view message) const {
  if (sink_ != nullptr && level < *min_level_) return;
  LogRecord record;
  record.level = level;
  record.worker_id = std::string(worker_id);
  record.message = std::string(message);
  Log(std::move(record));
}

void Logger::Log(LogRecord record) const {
  std::shared_ptr<const LogSink> sink = sink_;
  if (sink == nullptr) {
    bool enabled;
    sink = GlobalSink(record.level, min_level_, &enabled);
    if (!enabled) return;
  } else if (record.level < *min_level_) {
    return;
  }
  AddCallIds(record);
  if (sink) {
    (*sink)(record);
  } else {
    DefaultSink(record);
  }
}

bool LogEnabled(LogLevel level) {
  if (const Logger* logger = CurrentCallLogger()) return logger->Enabled(level);
  return Logger().Enabled(level);
}

void Log(LogLevel level, absl::string_view worker_id, absl::string_view message) {
  if (const Logger* logger = CurrentCallLogger()) {
    logger->Log(level, worker_id, message);
  } else {
    Logger().Log(level, worker_id, message);
  }
}

}  // namespace internal
}  // namespace iw
