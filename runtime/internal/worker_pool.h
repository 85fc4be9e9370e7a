// FOR INTERNAL USE. The supervisor behind every generated host: a pool of
// worker endpoints (exactly one for a plain Spawn()).
//
// WorkerPool is the pool's face (the Connection a generated host talks to);
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
#ifndef IW_RUNTIME_INTERNAL_WORKER_POOL_H_
#define IW_RUNTIME_INTERNAL_WORKER_POOL_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/codegen_support/service_info.h"
#include "runtime/internal/close_once.h"
#include "runtime/internal/connection.h"
#include "runtime/internal/pool_admission.h"
#include "runtime/internal/pool_supervisor.h"
#include "runtime/internal/retry_policy.h"
#include "runtime/internal/timeouts.h"

namespace iw::internal {

class WorkerPool final : public Connection {
 public:
  using Factory = Supervisor::Factory;

  // Starts min_workers workers (unless lazy) and returns once they are
  // ready; the first spawn error is returned as is. `tuning`: the
  // crash-loop policy's constants (tests shrink them).
  static absl::StatusOr<std::unique_ptr<WorkerPool>> Start(
      const ServiceInfo& service, WorkerOptions options,
      std::vector<MethodOverrides> method_overrides, PoolOptions pool, Factory factory,
      Supervisor::Tuning tuning = {});

  ~WorkerPool() override;

  absl::Status Call(int method_index, const google::protobuf::MessageLite& request,
                    google::protobuf::MessageLite* response, const CallOptions& options) override;
  CallHandle CallAsync(int method_index, const google::protobuf::MessageLite& request,
                       google::protobuf::MessageLite* response, const CallOptions& options,
                       std::function<void(absl::Status)> done) override;
  absl::Status Close(const CloseOptions& options) override;
  WorkerState state() const override;
  int pid() const override;
  std::string worker_id() const override;
  PoolStats stats() const override;

 private:
  WorkerPool(const ServiceInfo& service, WorkerOptions options,
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

  // The close itself, run once by close_ (see close_once.h).
  absl::Status CloseNow(const CloseOptions& options);

  const ServiceInfo& service_;
  const WorkerOptions options_;
  const std::vector<MethodOverrides> method_overrides_;
  const double timeout_scale_ = TimeoutScale();  // $IW_TIMEOUT_SCALE, read once
  const RetryPolicy policy_;
  Supervisor supervisor_;
  CallAdmission admission_;
  CloseOnce close_;
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_INTERNAL_WORKER_POOL_H_
