// FOR INTERNAL USE. One worker process spawned and owned by the host.
#ifndef IW_RUNTIME_HOST_WORKER_PROCESS_H_
#define IW_RUNTIME_HOST_WORKER_PROCESS_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "runtime/common/close_once.h"
#include "runtime/host/grpc_endpoint.h"
#include "runtime/host/output_capture.h"
#include "runtime/process/child_process.h"
#include "runtime/process/unique_fd.h"

namespace iw::internal {

// spawn → ready handshake → calls → close with escalation. A monitor thread
// notices the worker's death the moment it happens (pidfd) and reports it.
//
// IMPORTANT:
// - The process is reaped only by its Subprocess (waitpid on its pid, never
//   waitpid(-1)); signals go through its pidfd, never to a recycled pid.
// - The worker watches the control socket: however the host dies (SIGKILL
//   included), the kernel closes it and the worker exits (orphan lifeline).
class WorkerProcess final : public GrpcEndpoint {
 public:
  // Spawns a worker and waits until it is ready or `startup` passes (then it
  // is killed and reaped). Errors: INVALID_ARGUMENT (bad options), the exec
  // errno's status (NOT_FOUND, PERMISSION_DENIED...), UNAVAILABLE (exited
  // before ready, with its exit status and stderr tail), DEADLINE_EXCEEDED
  // (startup timeout).
  static absl::StatusOr<std::unique_ptr<WorkerProcess>> Spawn(const codegen::ServiceInfo& service,
                                                              const WorkerOptions& options,
                                                              const ResolvedTimeout& startup);

  ~WorkerProcess() override;

  int pid() const override;
  bool crashed() const override;
  absl::Status Close(const CloseOptions& options) override;
  void Kill(const std::string& reason) override;
  void SetDeathCallback(std::function<void()> callback) override;
  void SetRecycleCallback(std::function<void(const std::string&)> callback) override;
  std::optional<WorkerCrash> CrashDetails() override;

  FailureDescription DescribeDeath() override;

 private:
  WorkerProcess(const codegen::ServiceInfo& service, const WorkerOptions& options);

  absl::Status Start(const WorkerOptions& options, const ResolvedTimeout& startup);
  // `*native`: the worker serves the native carrier (it answered 'N').
  absl::Status WaitReady(const ResolvedTimeout& startup, SchemaCheck schema_check, bool* native);
  // The worker broke the native carrier's protocol: it is killed and
  // counts as crashed (WorkerCrash::PROTOCOL_ERROR, `why` in the report).
  void OnProtocolViolation(const absl::Status& why);
  // After kReadyWithSchema: reads the worker's schema and checks it against
  // ours (FAILED_PRECONDITION on a mismatch).
  absl::Status CheckWorkerSchema(SchemaCheck schema_check, absl::Time deadline);
  void Monitor();
  // Records that the process exited; true if that counts as a crash (not
  // closed or killed by us).
  bool NoteExitLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reads the worker's parting notice, if it left one.
  void ReadNoticeLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::optional<ExitStatus> DrainAndWait(absl::Time deadline);
  // The close itself, run once by close_ (see close_once.h).
  absl::Status CloseNow(const CloseOptions& options);
  absl::Status ExplainUnavailable(int method_index, const absl::Status& transport) override;
  std::string StderrTail();

  const std::string executable_;
  const Logger logger_;  // WorkerOptions::log_sink, else the process-wide sink
  std::unique_ptr<ChildProcess> process_;
  std::unique_ptr<OutputCapture> stderr_;
  std::unique_ptr<OutputCapture> stdout_;  // only in OutputMode::kCapture
  UniqueFd control_;                       // reset under mu_ (NoteExitLocked reads it)
  UniqueFd monitor_wake_;                  // eventfd: tells the monitor to stop
  std::thread monitor_;

  mutable absl::Mutex mu_;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool exit_noted_ ABSL_GUARDED_BY(mu_) = false;
  bool crashed_ ABSL_GUARDED_BY(mu_) = false;
  std::string kill_reason_ ABSL_GUARDED_BY(mu_);
  std::string replaced_reason_ ABSL_GUARDED_BY(mu_);
  std::string protocol_error_ ABSL_GUARDED_BY(mu_);
  std::function<void()> on_death_ ABSL_GUARDED_BY(mu_);
  std::function<void(const std::string&)> on_recycle_ ABSL_GUARDED_BY(mu_);
  CloseOnce close_;
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_HOST_WORKER_PROCESS_H_
