// FOR INTERNAL USE. The crash policy of a pool's calls: how many attempts a
// method gets, when a call that lost its worker runs again, and how the
// final status of a call reads ("(attempt N of M)", the method in its
// iw.WorkerCrash). Pure: no lock, no thread, no worker.
//
// Both call paths of the pool (blocking and asynchronous) drive the same
// ladder: after every attempt they ask NextAttempt() whether to run again.
#ifndef IW_RUNTIME_HOST_RETRY_POLICY_H_
#define IW_RUNTIME_HOST_RETRY_POLICY_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "runtime/codegen_support/service_info.h"
#include "runtime/logging.h"
#include "runtime/options.h"
#include "runtime/wire/call_failure.h"

namespace google::protobuf {
class MessageLite;
}  // namespace google::protobuf

namespace iw::internal {

struct CallTiming;  // endpoint.h

// What the endpoint said happened, without the "<method>: " of the message
// ("worker ... crashed: ..."; the whole message if it kept no description).
FailureDescription DescriptionOrMessage(const absl::Status& status);

// Where one logical call stands on its ladder of attempts.
struct CallAttempts {
  int method_index = 0;
  int attempt = 1;
  int max_attempts = 1;
  // The call's deadline: no attempt starts after it.
  absl::Time deadline = absl::InfiniteFuture();
};

// The per-method crash policy of one service, with the host's overrides.
// Thread-safe (immutable).
class RetryPolicy {
 public:
  // `method_overrides`: empty, or one per method of `service`. `logger`:
  // where retries are logged.
  RetryPolicy(const codegen::ServiceInfo& service,
              const std::vector<MethodOverrides>& method_overrides, Logger logger = Logger());

  // Attempts in total (the first included): 1 under CrashPolicy::kReject.
  int MaxAttempts(int method_index) const;

  // A fresh ladder for one call.
  CallAttempts Begin(int method_index, absl::Time deadline) const;

  // The step both call paths take after an attempt on worker `worker_id`
  // ended with `*status`. `died`: it failed because its worker died (see
  // Supervisor::ReleaseLocked). `may_retry`: false once the caller cancelled.
  // Returns true when the call runs again on a fresh worker (the retry is
  // logged, `response` cleared and the attempt counted); false when
  // `*status` is now the call's final status (see Conclude()).
  // `timing` (may be null): the call's, whose request id and trace id tag
  // the retry's record.
  bool NextAttempt(CallAttempts& call, bool died, bool may_retry, absl::string_view worker_id,
                   google::protobuf::MessageLite* response, absl::Status* status,
                   const CallTiming* timing = nullptr) const;

  // Adds "(attempt N of M)" to a failure after retries, and the attempt
  // numbers to its iw.WorkerCrash.
  absl::Status Conclude(int method_index, int attempt, int max_attempts, bool died,
                        absl::Status status) const;
  // A pool-level failure of one call: "<method>: " before the message, and
  // the method and attempt numbers in its iw.WorkerCrash, if any.
  absl::Status ForMethod(const absl::Status& status, int method_index) const;

  const codegen::ServiceInfo& service() const { return service_; }

 private:
  const codegen::ServiceInfo& service_;
  const std::vector<MethodOverrides> method_overrides_;
  const Logger logger_;
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_HOST_RETRY_POLICY_H_
