#include "runtime/logging.h"

#include <cstdio>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

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
                                  record.worker_id.empty() ? "" : ": ", record.message, "\n");
  std::fwrite(line.data(), 1, line.size(), stderr);
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

namespace internal {

bool LogEnabled(LogLevel level) {
  SinkState& state = State();
  absl::MutexLock lock(&state.mu);
  return level >= state.min_level;
}

void Log(LogLevel level, absl::string_view worker_id, absl::string_view message) {
  std::shared_ptr<LogSink> sink;
  {
    SinkState& state = State();
    absl::MutexLock lock(&state.mu);
    if (level < state.min_level) return;
    sink = state.sink;
  }
  LogRecord record{level, std::string(worker_id), std::string(message)};
  if (sink) {
    (*sink)(record);
  } else {
    DefaultSink(record);
  }
}

}  // namespace internal
}  // namespace iw
