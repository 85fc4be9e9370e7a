#include "runtime/host/retry_policy.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/message_lite.h"
#include "runtime/call_context.h"
#include "runtime/common/status_macros.h"
#include "runtime/common/timeouts.h"
#include "runtime/host/crash_details.h"
#include "runtime/host/endpoint.h"
#include "runtime/logging.h"
#include "runtime/trace_context.h"
#include "runtime/wire/call_failure.h"

namespace iw::internal {

FailureDescription DescriptionOrMessage(const absl::Status& status) {
  return DescriptionOf(status).value_or(FailureDescription{std::string(status.message()), ""});
}

RetryPolicy::RetryPolicy(const codegen::ServiceInfo& service,
                         const std::vector<MethodOverrides>& method_overrides, Logger logger)
    : service_(service), method_overrides_(method_overrides), logger_(std::move(logger)) {}

int RetryPolicy::MaxAttempts(int method_index) const {
  const codegen::MethodInfo& method = service_.methods[method_index];
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
                              absl::Status* status, const CallTiming* timing) const {
  if (died && may_retry && call.attempt < call.max_attempts && absl::Now() < call.deadline) {
    LogRecord record;
    record.level = LogLevel::kWarning;
    record.worker_id = std::string(worker_id);
    record.message =
        absl::StrCat("retrying ", MethodDisplayName(service_, call.method_index),
                     " on a fresh worker (attempt ", call.attempt + 1, " of ", call.max_attempts,
                     ") after: ", DescriptionOrMessage(*status).ToString());
    if (timing != nullptr) {
      record.request_id = timing->request_id;
      if (timing->request_metadata != nullptr) {
        // The context as the worker reads it (validated before it was sent).
        std::string unused;
        const TraceContext trace = TraceFromMetadata(*timing->request_metadata, &unused);
        if (!trace.empty()) {
          record.trace_id = std::string(trace.trace_id());
          record.span_id = std::string(trace.parent_id());
        }
      }
    }
    logger_.Log(std::move(record));
    ++call.attempt;
    if (response != nullptr) response->Clear();
    return true;
  }
  *status = Conclude(call.method_index, call.attempt, call.max_attempts, died, std::move(*status));
  return false;
}

absl::Status RetryPolicy::Conclude(int method_index, int attempt, int max_attempts, bool died,
                                   absl::Status status) const {
  if (died && max_attempts > 1) {
    status = WithSuffix(status, MethodDisplayName(service_, method_index),
                        absl::StrCat(" (attempt ", attempt, " of ", max_attempts, ")"));
  }
  status = WithoutInternalPayloads(std::move(status));
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
