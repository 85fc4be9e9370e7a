// -----------------------------------------------------------------------------
// File: host/pool_stream.h
// -----------------------------------------------------------------------------
//
// FOR INTERNAL USE. One streaming call (stream.h) as the pool runs it: what
// the typed ResponseStream / RequestStream / BidiStream hold.
//
// - The stream takes a worker like a call (the least-loaded one with room,
//   else it waits in the pool's queue, bound by its deadline) and keeps it
//   until it ends: a stream counts towards its worker's call limit for its
//   whole life, and in PoolStats as one call.
// - Host middleware runs once per stream: OnRequest before it opens
//   (HostCall::request is the one request of a server-streaming method, a
//   private copy; null for the other kinds) and OnResponse once it has
//   ended (HostCall::response is null; the status and response metadata are
//   the stream's). There is no per-message hook.
// - The crash policy: a server-streaming method with CrashPolicy::kRetry
//   runs again on a fresh worker if its worker died before the stream
//   delivered its first response (nothing has been seen, so nothing is
//   repeated); after that, and for the other kinds (whose requests are
//   consumed as they are sent), the stream fails with the crash report.

#ifndef IW_RUNTIME_HOST_POOL_STREAM_H_
#define IW_RUNTIME_HOST_POOL_STREAM_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "runtime/host/endpoint.h"
#include "runtime/host/host_stream.h"
#include "runtime/host/pool_admission.h"
#include "runtime/host/retry_policy.h"
#include "runtime/middleware.h"
#include "runtime/stream.h"

namespace iw::internal {

class PoolStream final : public ClientStream {
 public:
  // `admission`, `policy` and `middleware` must outlive the stream (the
  // pool waits for its streams to end before it goes). `request`: the one
  // request of a server-streaming method, else null. `trace`: the call's
  // trace context before middleware (HostCall::trace).
  PoolStream(CallAdmission& admission, const RetryPolicy& policy,
             const std::vector<std::shared_ptr<HostMiddleware>>& middleware, int method_index,
             CallTiming timing, std::unique_ptr<google::protobuf::MessageLite> request,
             std::string request_id, TraceContext trace = TraceContext());
  ~PoolStream() override;

  // Runs host middleware and opens the first attempt (the stream may have
  // ended already: Finish() says why).
  void Open();

  // ClientStream.
  bool Write(const google::protobuf::MessageLite& message) override;
  void CloseWrites() override;
  bool Read(google::protobuf::MessageLite* message) override;
  absl::Status Finish() override;
  void Cancel() override;
  int64_t messages_read() const override;

 private:
  // Takes a worker and opens one attempt on it; a failure ends the stream.
  void OpenAttempt();
  // An attempt ended with `status` (on the thread that ended it): gives its
  // worker back, then either leaves a retry to the user's thread or ends
  // the stream.
  void OnAttemptEnd(const std::shared_ptr<Supervisor::Slot>& slot, absl::Status& status);
  // Ends the stream with `status` (OnResponse, counters); once. Without
  // the lock: it runs host middleware.
  void End(absl::Status status);
  // If a retry is due, opens it (on the user's thread); true if it did.
  bool RetryIfDue();
  std::shared_ptr<HostStream> current() const;

  CallAdmission& admission_;
  const RetryPolicy& policy_;
  const std::vector<std::shared_ptr<HostMiddleware>>& middleware_;
  const int method_index_;
  CallTiming timing_;
  const absl::Time opened_ = absl::Now();  // for the metrics' call time
  const std::unique_ptr<google::protobuf::MessageLite> request_;
  HostCall call_;  // what middleware sees
  size_t middleware_ran_ = 0;

  mutable absl::Mutex mu_;
  std::shared_ptr<HostStream> attempt_ ABSL_GUARDED_BY(mu_);
  CallAttempts ladder_ ABSL_GUARDED_BY(mu_);
  bool retry_due_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool ending_ ABSL_GUARDED_BY(mu_) = false;
  int64_t read_ ABSL_GUARDED_BY(mu_) = 0;
  std::optional<absl::Status> final_ ABSL_GUARDED_BY(mu_);
};

// A stream that never started (its options were invalid): every operation
// fails and Finish() returns the reason.
class FailedStream final : public ClientStream {
 public:
  explicit FailedStream(absl::Status status);
  bool Write(const google::protobuf::MessageLite&) override { return false; }
  void CloseWrites() override {}
  bool Read(google::protobuf::MessageLite*) override { return false; }
  absl::Status Finish() override { return status_; }
  void Cancel() override {}
  int64_t messages_read() const override { return 0; }

 private:
  const absl::Status status_;
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_HOST_POOL_STREAM_H_
