#include "runtime/internal/retry_policy.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/message_lite.h"
#include "runtime/internal/connection.h"
#include "runtime/internal/crash_details.h"
#include "runtime/internal/status_macros.h"
#include "runtime/internal/timeouts.h"
#include "runtime/logging.h"

namespace iw::internal {

std::string WithSuffix(absl::string_view message, absl::string_view suffix) {
  size_t tail = message.find("; last stderr lines:");
  if (tail == absl::string_view::npos) return absl::StrCat(message, suffix);
  return absl::StrCat(message.substr(0, tail), suffix, message.substr(tail));
}

absl::string_view WithoutMethod(absl::string_view message) {
  size_t colon = message.find(": ");
  return colon == absl::string_view::npos ? message : message.substr(colon + 2);
}

RetryPolicy::RetryPolicy(const ServiceInfo& service,
                         const std::vector<MethodOverrides>& method_overrides)
    : service_(service), method_overrides_(method_overrides) {}

int RetryPolicy::MaxAttempts(int method_index) const {
  const MethodInfo& method = service_.methods[method_index];
  CrashPolicy policy = method.on_crash == 1 ? CrashPolicy::kRetry : CrashPolicy::kReject;
  int attempts = method.max_attempts > 0 ? method.max_attempts : 3;
  if (!method_overrides_.empty()) {
    const MethodOverrides& o = method_overrides_[method_index];
    if (o.on_crash) policy = *o.on_crash;
    if (o.max_attempts) attempts = std::max(1, *o.max_attempts);
  }
  return policy == CrashPolicy::kRetry ? attempts : 1;
}

CallAttempts RetryPolicy::Begin(int method_index, absl::Time deadline) const {
  CallAttempts call;
  call.method_index = method_index;
  call.max_attempts = MaxAttempts(method_index);
  call.deadline = deadline;
  return call;
}

bool RetryPolicy::NextAttempt(CallAttempts& call, bool died, bool may_retry,
                              absl::string_view worker_id, google::protobuf::MessageLite* response,
                              absl::Status* status) const {
  if (died && may_retry && call.attempt < call.max_attempts && absl::Now() < call.deadline) {
    Log(LogLevel::kWarning, worker_id,
        absl::StrCat("retrying ", MethodDisplayName(service_, call.method_index),
                     " on a fresh worker (attempt ", call.attempt + 1, " of ", call.max_attempts,
                     ") after: ", WithoutMethod(status->message())));
    ++call.attempt;
    response->Clear();
    return true;
  }
  *status = Conclude(call.method_index, call.attempt, call.max_attempts, died, std::move(*status));
  return false;
}

absl::Status RetryPolicy::Conclude(int method_index, int attempt, int max_attempts, bool died,
                                   absl::Status status) const {
  status.ErasePayload(kCallLostPayload);  // internal only
  if (died && max_attempts > 1) {
    status = WithMessage(
        status, WithSuffix(status.message(),
                           absl::StrCat(" (attempt ", attempt, " of ", max_attempts, ")")));
  }
  if (std::optional<WorkerCrash> crash = WorkerCrashOf(status)) {
    crash->set_method(MethodDisplayName(service_, method_index));
    crash->set_attempt(attempt);
    crash->set_max_attempts(max_attempts);
    status = WithCrash(std::move(status), *crash);
  }
  return status;
}

absl::Status RetryPolicy::ForMethod(const absl::Status& status, int method_index) const {
  absl::Status result = Prefixed(status, MethodDisplayName(service_, method_index));
  if (std::optional<WorkerCrash> crash = WorkerCrashOf(result)) {
    crash->set_method(MethodDisplayName(service_, method_index));
    crash->set_attempt(1);
    crash->set_max_attempts(MaxAttempts(method_index));
    result = WithCrash(std::move(result), *crash);
  }
  return result;
}

}  // namespace iw::internal
