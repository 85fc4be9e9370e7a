// FOR INTERNAL USE. Worker side of DeadlinePolicy::kReplaceWorker: calls
// whose policy says so are armed with (deadline + grace); if the handler is
// still running then, `on_overrun` runs (the worker tells its host why and
// exits, and the host starts a fresh worker).
#ifndef IW_RUNTIME_WORKER_OVERRUN_WATCHDOG_H_
#define IW_RUNTIME_WORKER_OVERRUN_WATCHDOG_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "runtime/call_context.h"
#include "runtime/logging.h"

namespace iw::internal {

// The per-call metadata key carrying the grace period in milliseconds.
inline constexpr char kReplaceAfterMetadata[] = "iw-replace-after-ms";

class OverrunWatchdog {
 public:
  // `on_overrun(description)` runs on the watchdog's thread; it is expected
  // not to return (it ends the process).
  using OnOverrun = std::function<void(const std::string& description)>;

  // `logger` (may be null: the process-wide sink) is where records logged
  // by `on_overrun` go; they carry the overrunning call's ids.
  explicit OverrunWatchdog(OnOverrun on_overrun, const Logger* logger = nullptr)
      : on_overrun_(std::move(on_overrun)), logger_(logger) {}
  ~OverrunWatchdog();
  OverrunWatchdog(const OverrunWatchdog&) = delete;
  OverrunWatchdog& operator=(const OverrunWatchdog&) = delete;

  // Watches one running handler; returns a token for Disarm(). The call's
  // request id and traceparent tag the records `on_overrun` logs.
  uint64_t Arm(absl::Time deadline, absl::Duration grace, const std::string& method,
               const std::string& request_id = "", const std::string& traceparent = "");
  void Disarm(uint64_t token);

 private:
  struct Entry {
    absl::Time fire_at;
    absl::Duration grace;
    std::string method;
    std::string request_id;
    std::string traceparent;
  };
  void Loop();

  const OnOverrun on_overrun_;
  const Logger* const logger_;
  absl::Mutex mu_;
  std::map<uint64_t, Entry> entries_ ABSL_GUARDED_BY(mu_);
  uint64_t next_token_ ABSL_GUARDED_BY(mu_) = 1;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  bool changed_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // started on first Arm()
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_WORKER_OVERRUN_WATCHDOG_H_
