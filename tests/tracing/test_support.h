// Shared helpers of the tests of this package: hosts of iwtrace.TraceTest in
// each mode, a collecting log sink, and trace contexts to send.
#ifndef IW_TESTS_TRACING_TEST_SUPPORT_H_
#define IW_TESTS_TRACING_TEST_SUPPORT_H_

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/match.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "catch2/catch.hpp"
#include "runtime/logging.h"
#include "tests/testing/carrier.h"
#include "tests/testing/process_hygiene.h"
#include "tests/testing/status_matchers.h"
#include "tests/tracing/trace_handler.h"

namespace iwtrace {

// W3C's own example (https://www.w3.org/TR/trace-context/#examples-of-http-traceparent-headers).
inline constexpr char kTraceparent[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
inline constexpr char kTraceId[] = "4bf92f3577b34da6a3ce929d0e0e4736";
inline constexpr char kParentId[] = "00f067aa0ba902b7";
inline constexpr char kTracestate[] = "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7";

enum class Mode { kSpawned, kInProcess };

inline const char* ModeName(Mode mode) {
  return mode == Mode::kSpawned ? "spawned worker" : "in-process";
}

// Options of a spawned trace_worker over the carrier under test.
inline iw::WorkerOptions SpawnOptions() {
  iw::WorkerOptions options = iw::testing::CarrierOptions();
  options.executable = iw::testing::RunfilePath("tests/tracing/trace_worker");
  return options;
}

// Starts a host in `mode` (REQUIREs success): a spawned trace_worker, or
// `handler` in-process with a RecordingTracer, as trace_worker has.
inline std::unique_ptr<TraceTestHost> StartHost(Mode mode, TraceHandler& handler,
                                                iw::WorkerOptions options,
                                                const TraceTestMethodConfig& methods = {}) {
  absl::StatusOr<std::unique_ptr<TraceTestHost>> host;
  if (mode == Mode::kSpawned) {
    iw::WorkerOptions spawn = SpawnOptions();
    options.executable = spawn.executable;
    options.transport = spawn.transport;
    options.start_mode = spawn.start_mode;
    host = TraceTestHost::Spawn(std::move(options), methods);
  } else {
    options.worker_tracer = std::make_shared<RecordingTracer>();
    host = TraceTestHost::InProcess(handler, std::move(options), methods);
  }
  REQUIRE_THAT(host.status(), iw::testing::IsOk());
  return std::move(*host);
}

// A log sink that keeps every record. Thread-safe.
class Records {
 public:
  iw::LogSink Sink() {
    return [this](const iw::LogRecord& record) {
      absl::MutexLock lock(&mu_);
      records_.push_back(record);
    };
  }
  std::vector<iw::LogRecord> Snapshot() {
    absl::MutexLock lock(&mu_);
    return records_;
  }
  // The first record whose message contains `text`, waiting up to
  // `timeout` for it; nullopt if none came.
  std::optional<iw::LogRecord> WaitFor(const std::string& text,
                                       absl::Duration timeout = absl::Seconds(10)) {
    absl::MutexLock lock(&mu_);
    const iw::LogRecord* found = nullptr;
    auto has = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      for (const iw::LogRecord& record : records_) {
        if (absl::StrContains(record.message, text)) {
          found = &record;
          return true;
        }
      }
      return false;
    };
    mu_.AwaitWithTimeout(absl::Condition(&has), timeout);
    if (found == nullptr) return std::nullopt;
    return *found;
  }
  bool Any(const std::function<bool(const iw::LogRecord&)>& match) {
    absl::MutexLock lock(&mu_);
    for (const iw::LogRecord& record : records_) {
      if (match(record)) return true;
    }
    return false;
  }

 private:
  absl::Mutex mu_;
  std::vector<iw::LogRecord> records_ ABSL_GUARDED_BY(mu_);
};

}  // namespace iwtrace

namespace Catch {
template <>
struct StringMaker<iwtrace::Mode> {
  static std::string convert(iwtrace::Mode mode) { return iwtrace::ModeName(mode); }
};
}  // namespace Catch

#endif  // IW_TESTS_TRACING_TEST_SUPPORT_H_
