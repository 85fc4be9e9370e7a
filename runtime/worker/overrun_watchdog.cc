#include "runtime/worker/overrun_watchdog.h"

#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace iw::internal {

OverrunWatchdog::~OverrunWatchdog() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

uint64_t OverrunWatchdog::Arm(absl::Time deadline, absl::Duration grace, const std::string& method,
                              const std::string& request_id, const std::string& traceparent) {
  absl::MutexLock lock(&mu_);
  uint64_t token = next_token_++;
  entries_[token] = Entry{deadline + grace, grace, method, request_id, traceparent};
  changed_ = true;
  if (!thread_.joinable()) thread_ = std::thread([this] { Loop(); });
  return token;
}

void OverrunWatchdog::Disarm(uint64_t token) {
  absl::MutexLock lock(&mu_);
  entries_.erase(token);
}

void OverrunWatchdog::Loop() {
  absl::MutexLock lock(&mu_);
  while (!stopping_) {
    absl::Time next = absl::InfiniteFuture();
    const Entry* due = nullptr;
    uint64_t due_token = 0;
    for (const auto& [token, entry] : entries_) {
      if (entry.fire_at < next) {
        next = entry.fire_at;
        due = &entry;
        due_token = token;
      }
    }
    if (due != nullptr && absl::Now() >= next) {
      std::string description = absl::StrCat(
          "the handler of ", due->method, " was still running ", absl::FormatDuration(due->grace),
          " after its deadline (DEADLINE_REPLACE_WORKER); the worker was replaced");
      // What the records of on_overrun_ are about (the call's own context
      // may be gone by then: its handler may return at any moment).
      Metadata ids;
      if (!due->traceparent.empty()) ids.emplace(kTraceparentMetadataKey, due->traceparent);
      auto about = std::make_unique<CallContext>(due->method, absl::InfiniteFuture(),
                                                 std::move(ids), due->request_id);
      // Fires once per call. A real worker's handler ends the process; one
      // that does not (tests, the fuzzers) keeps the watchdog for later
      // calls, and its thread is still joined by the destructor.
      entries_.erase(due_token);
      mu_.Unlock();
      {
        CurrentCallScope scope(about.get(), logger_);
        on_overrun_(description);
      }
      mu_.Lock();
      continue;
    }
    changed_ = false;
    auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return changed_ || stopping_; };
    mu_.AwaitWithDeadline(absl::Condition(&wake), next);
  }
}

}  // namespace iw::internal
