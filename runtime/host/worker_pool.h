// FOR INTERNAL USE. The supervisor behind every generated host: a pool of
// worker endpoints (exactly one for a plain Spawn()).
//
// WorkerPool is the pool's face (what iw::HostBase talks to);
// the work is done by three parts, one job each:
// - CallAdmission (pool_admission.h): calls go to the least-loaded ready
//   worker below its call limit, else wait in a bounded FIFO queue, each
//   bound by its own deadline; calls lost with their worker are retried per
//   their crash policy.
// - RetryPolicy (retry_policy.h): the crash policy of each method, and the
//   wording of a call's final status.
// - Supervisor (pool_supervisor.h): seats, starts and replacements,
//   crash-loop backoff, draining, recycling, idle retirement.
// The pool itself:
// - validates PoolOptions and the method overrides (Start());
// - resolves timeouts, once per call (see timeouts.h);
// - runs host middleware (WorkerOptions::middleware), once per logical
//   call, around the queue and the retries; every call gets a request id;
// - closes the parts in order (Close()).
#ifndef IW_RUNTIME_HOST_WORKER_POOL_H_
#define IW_RUNTIME_HOST_WORKER_POOL_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/call_handle.h"
#include "runtime/codegen_support/service_info.h"
#include "runtime/common/close_once.h"
#include "runtime/common/timeouts.h"
#include "runtime/host/call_metrics.h"
#include "runtime/host/endpoint.h"
#include "runtime/host/pool_admission.h"
#include "runtime/host/pool_stream.h"
#include "runtime/host/pool_supervisor.h"
#include "runtime/host/retry_policy.h"
#include "runtime/options.h"
#include "runtime/worker_state.h"

namespace iw::internal {

// Workers a pool reaches but does not start itself (remote workers behind one
// load-balanced channel): how many are configured and how many are in
// rotation, for stats(). Thread-safe.
class Membership {
 public:
  virtual ~Membership() = default;
  // {ready, configured}.
  virtual std::pair<int, int> Counts() const = 0;
};

class WorkerPool final {
 public:
  using Factory = Supervisor::Factory;

  // Starts min_workers workers (unless lazy) and returns once they are
  // ready; the first spawn error is returned as is. `tuning`: the
  // crash-loop policy's constants (tests shrink them).
  static absl::StatusOr<std::unique_ptr<WorkerPool>> Start(
      const codegen::ServiceInfo& service, WorkerOptions options,
      std::vector<MethodOverrides> method_overrides, PoolOptions pool, Factory factory,
      Supervisor::Tuning tuning = {});

  ~WorkerPool();

  absl::Status Call(int method_index, const google::protobuf::MessageLite& request,
                    google::protobuf::MessageLite* response, const CallOptions& options);
  CallHandle CallAsync(int method_index, const google::protobuf::MessageLite& request,
                       google::protobuf::MessageLite* response, const CallOptions& options,
                       std::function<void(absl::Status)> done);
  // A stream of streaming method `method_index` (pool_stream.h); never
  // null. `request`: the one request of a server-streaming method, else
  // null.
  std::unique_ptr<ClientStream> OpenStream(int method_index,
                                           const google::protobuf::MessageLite* request,
                                           const CallOptions& options);
  // A server-streaming call read on a thread of the pool (joined by
  // Close()): each response is read into `response`, then `on_message`
  // runs; then `done`, once, with the final status.
  CallHandle StreamAsync(int method_index, const google::protobuf::MessageLite& request,
                         google::protobuf::MessageLite* response, std::function<void()> on_message,
                         std::function<void(absl::Status)> done, const CallOptions& options);
  absl::Status Close(const CloseOptions& options);
  WorkerState state() const;
  int pid() const;
  std::string worker_id() const;
  PoolStats stats() const;
  HostMetrics Metrics() const;

  // Remote pools: the workers behind the channel count as the pool's workers
  // in stats(). Set once, right after Start(), before any call.
  void SetMembership(std::unique_ptr<Membership> membership);

 private:
  WorkerPool(const codegen::ServiceInfo& service, WorkerOptions options,
             std::vector<MethodOverrides> method_overrides, PoolOptions pool, Factory factory,
             Supervisor::Tuning tuning);

  // One logical call after host middleware: resolves its timing, then
  // admits it (the crash policy may retry).
  absl::Status CallWithRetries(int method_index, const google::protobuf::MessageLite& request,
                               google::protobuf::MessageLite* response, const CallOptions& options,
                               std::string request_id, const Metadata* request_metadata,
                               Metadata* response_metadata);
  CallHandle CallAsyncWithRetries(int method_index, const google::protobuf::MessageLite& request,
                                  google::protobuf::MessageLite* response,
                                  const CallOptions& options, std::string request_id,
                                  const Metadata* request_metadata, Metadata* response_metadata,
                                  std::function<void(absl::Status)> done);
  absl::StatusOr<CallTiming> Resolve(int method_index, const CallOptions& options) const;
  // The call's trace context before host middleware: CallOptions::trace
  // (INVALID_ARGUMENT if invalid), else the TracePropagator's (ignored if
  // invalid), else empty. Runs on the caller's thread.
  absl::StatusOr<TraceContext> InitialTrace(int method_index, const CallOptions& options) const;

  // The close itself, run once by close_ (see close_once.h).
  absl::Status CloseNow(const CloseOptions& options);

  const codegen::ServiceInfo& service_;
  const WorkerOptions options_;
  const std::vector<MethodOverrides> method_overrides_;
  const Logger logger_;  // WorkerOptions::log_sink, else the process-wide sink
  const double timeout_scale_ = TimeoutScale();  // $IW_TIMEOUT_SCALE, read once
  const RetryPolicy policy_;
  // Before the supervisor and admission: calls record into it until the
  // pool is gone.
  CallMetrics metrics_;
  Supervisor supervisor_;
  CallAdmission admission_;
  std::unique_ptr<Membership> membership_;
  // The threads of StreamAsync() calls; finished ones are joined as new
  // ones start, the rest by Close().
  struct Pump {
    std::thread thread;
    std::atomic<bool> done{false};
  };
  absl::Mutex pumps_mu_;
  std::vector<std::unique_ptr<Pump>> pumps_ ABSL_GUARDED_BY(pumps_mu_);
  CloseOnce close_;
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_HOST_WORKER_POOL_H_
