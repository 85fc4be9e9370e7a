// The logging facade (logging.h): a host's or worker's own sink and level,
// the process-wide fallback, and the call ids a record gets on a handler's
// thread.
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "catch2/catch.hpp"
#include "runtime/call_context.h"
#include "runtime/logging.h"

namespace {

using iw::LogLevel;
using iw::LogRecord;
using iw::internal::Logger;

struct Collected {
  absl::Mutex mu;
  std::vector<LogRecord> records;
  iw::LogSink Sink() {
    return [this](const LogRecord& r) {
      absl::MutexLock lock(&mu);
      records.push_back(r);
    };
  }
  size_t size() {
    absl::MutexLock lock(&mu);
    return records.size();
  }
};

// Restores the default process-wide sink when the test ends.
struct GlobalSink {
  Collected collected;
  explicit GlobalSink(LogLevel level) { iw::SetLogSink(collected.Sink(), level); }
  ~GlobalSink() { iw::SetLogSink(nullptr); }
};

constexpr char kTraceparent[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST_CASE("Logger: a sink of its own gets its records, the process-wide sink none",
          "[runtime][logging]") {
  GlobalSink global(LogLevel::kDebug);
  Collected own;
  Logger logger(own.Sink(), std::nullopt);
  logger.Log(LogLevel::kInfo, "w#1", "below the default kWarning of an own sink");
  logger.Log(LogLevel::kError, "w#1", "crashed");
  REQUIRE(own.size() == 1);
  CHECK(own.records[0].message == "crashed");
  CHECK(own.records[0].worker_id == "w#1");
  CHECK(global.collected.size() == 0);
  CHECK_FALSE(logger.Enabled(LogLevel::kInfo));
  CHECK(Logger(own.Sink(), LogLevel::kDebug).Enabled(LogLevel::kDebug));
}

TEST_CASE("Logger: without a sink it uses the process-wide one, with its level unless set",
          "[runtime][logging]") {
  GlobalSink global(LogLevel::kWarning);
  Logger().Log(LogLevel::kInfo, "", "dropped by the process-wide level");
  Logger().Log(LogLevel::kWarning, "", "kept");
  Logger(nullptr, LogLevel::kDebug).Log(LogLevel::kDebug, "", "kept by the host's own level");
  Logger(nullptr, LogLevel::kError).Log(LogLevel::kWarning, "", "dropped by the host's level");
  REQUIRE(global.collected.size() == 2);
  CHECK(global.collected.records[0].message == "kept");
  CHECK(global.collected.records[1].message == "kept by the host's own level");
}

TEST_CASE("Logger: a record logged during a call carries its request id and trace id",
          "[runtime][logging][tracing]") {
  GlobalSink global(LogLevel::kDebug);
  Collected own;
  Logger logger(own.Sink(), LogLevel::kDebug);
  iw::CallContext context("/p.S/M", absl::InfiniteFuture(), {{"traceparent", kTraceparent}},
                          "0123456789abcdef");
  const std::string worker_id = "S#1 (pid 42)";
  CHECK(iw::CurrentCallContext() == nullptr);
  {
    iw::internal::CurrentCallScope scope(&context, &logger, &worker_id);
    CHECK(iw::CurrentCallContext() == &context);
    iw::LogMessage(LogLevel::kInfo, "from the handler");
    iw::internal::Log(LogLevel::kWarning, "x", "framework record on the handler's thread");
  }
  CHECK(iw::CurrentCallContext() == nullptr);
  iw::LogMessage(LogLevel::kInfo, "after the call");
  REQUIRE(own.size() == 2);
  for (const LogRecord& r : own.records) {
    CHECK(r.request_id == "0123456789abcdef");
    CHECK(r.trace_id == "4bf92f3577b34da6a3ce929d0e0e4736");
    CHECK(r.span_id == "00f067aa0ba902b7");
  }
  CHECK(own.records[0].worker_id == worker_id);
  CHECK(own.records[0].message == "from the handler");
  REQUIRE(global.collected.size() == 1);
  CHECK(global.collected.records[0].message == "after the call");
  CHECK(global.collected.records[0].request_id.empty());
  CHECK(global.collected.records[0].trace_id.empty());
}

}  // namespace
