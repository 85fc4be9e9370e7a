// FOR INTERNAL USE. A worker process spawned and owned by the host.
#ifndef IW_RUNTIME_INTERNAL_PROCESS_CONNECTION_H_
#define IW_RUNTIME_INTERNAL_PROCESS_CONNECTION_H_

#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "runtime/internal/grpc_connection.h"
#include "runtime/process/subprocess.h"
#include "runtime/process/unique_fd.h"

namespace iw::internal {

// Owns one worker process: spawn → ready handshake → calls → close with
// escalation. A monitor thread notices the worker's death the moment it
// happens (pidfd), records the exit status and fails new calls fast.
class ProcessConnection final : public GrpcConnection {
 public:
  static absl::StatusOr<std::unique_ptr<Connection>> Spawn(
      const ServiceInfo& service, WorkerOptions options,
      std::vector<MethodOverrides> method_overrides);

  ~ProcessConnection() override;

  absl::Status Close(const CloseOptions& options) override;
  WorkerState state() const override;
  int pid() const override;

 private:
  ProcessConnection(const ServiceInfo& service, const WorkerOptions& options,
                    std::vector<MethodOverrides> method_overrides);

  absl::Status Start(const WorkerOptions& options);
  absl::Status WaitReady(const ResolvedTimeout& startup);
  void Monitor();
  // Waits for in-flight calls, then drops the connection, then waits for the
  // process to exit; everything bounded by `deadline`.
  std::optional<ExitStatus> DrainAndWait(absl::Time deadline);
  void SetState(WorkerState state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status AdmissionError(int method_index) override;
  absl::Status ExplainUnavailable(int method_index,
                                  const absl::Status& transport) override;
  // "worker Ping#1 (pid 42) crashed: exit code 3".
  std::string DescribeEnd(const ExitStatus& status) const;

  std::string executable_;
  std::unique_ptr<Subprocess> process_;
  UniqueFd control_;
  UniqueFd monitor_wake_;  // eventfd: tells the monitor to stop
  std::thread monitor_;

  mutable absl::Mutex mu_;
  WorkerState state_ ABSL_GUARDED_BY(mu_) = WorkerState::kStarting;
  std::optional<absl::Status> close_result_ ABSL_GUARDED_BY(mu_);
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_INTERNAL_PROCESS_CONNECTION_H_
