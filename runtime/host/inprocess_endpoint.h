// FOR INTERNAL USE. A worker that lives in the host's own process: the
// runtime's Dispatcher behind a gRPC server with no ports, reached through
// the server's in-process channel. The host talks to it exactly as to a
// spawned worker (same call path, deadlines, status mapping); only the
// process boundary is missing.
#ifndef IW_RUNTIME_HOST_INPROCESS_ENDPOINT_H_
#define IW_RUNTIME_HOST_INPROCESS_ENDPOINT_H_

#include <grpcpp/server.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "runtime/codegen_support/handler_adapter.h"
#include "runtime/host/grpc_endpoint.h"
#include "runtime/host/worker_pool.h"
#include "runtime/in_process.h"
#include "runtime/process/subprocess.h"
#include "runtime/worker/dispatcher.h"
#include "runtime/worker/service.h"

namespace iw::internal {

// One in-process worker. Thread-safe.
//
// IMPORTANT:
// - pid() is always 0: there is no process. id() is "Calculator#3
//   (in-process)".
// - Nothing can kill a handler: Close() (and the destructor) wait for
//   running handlers, which are asked to stop (IsCancelled()) once the
//   grace period is over.
// - With hooks, every call goes through a private reply buffer so that a
//   simulated crash can fail it at once, whatever its handler still does.
class InProcessEndpoint final : public GrpcEndpoint, public InProcessWorker {
 public:
  // Starts the server and the channel. `binding.handler` and `hooks` (may
  // be null) must outlive the endpoint.
  static absl::StatusOr<std::unique_ptr<InProcessEndpoint>> Start(
      const codegen::ServiceBinding& binding, const WorkerOptions& options, InProcessHooks* hooks);

  ~InProcessEndpoint() override;

  // WorkerEndpoint.
  const std::string& id() const override { return GrpcEndpoint::id(); }
  int pid() const override { return 0; }
  bool crashed() const override;
  FailureDescription DescribeDeath() override;
  absl::Status Call(int method_index, const google::protobuf::MessageLite& request,
                    google::protobuf::MessageLite* response, const CallTiming& timing) override;
  std::shared_ptr<PendingCall> CallAsync(int method_index, std::string request,
                                         google::protobuf::MessageLite* response,
                                         const CallTiming& timing,
                                         std::function<void(absl::Status)> done) override;
  // Stops accepting calls, lets in-flight calls finish within the grace
  // period, then cancels the rest and waits for their handlers. Returns OK,
  // UNAVAILABLE with the (simulated) death if the worker died, or
  // DEADLINE_EXCEEDED if handlers outlived the grace period and the
  // term_timeout after cancellation (they were waited for).
  absl::Status Close(const CloseOptions& options) override;
  // There is no process to kill: calls in flight fail with UNAVAILABLE
  // naming `reason` and the worker stops accepting calls.
  void Kill(const std::string& reason) override;
  void SetDeathCallback(std::function<void()> callback) override;
  void SetRecycleCallback(std::function<void(const std::string&)> callback) override;
  std::optional<WorkerCrash> CrashDetails() override;

  // InProcessWorker.
  void SimulateDeath(int signal, int exit_code, std::function<void()> reported) override;
  void DropConnection() override;

 private:
  struct Op;
  // What the hooked method table points at.
  struct HookedHandler {
    InProcessEndpoint* endpoint;
    codegen::ServiceBinding original;
    absl::flat_hash_map<std::string, int> methods_by_path;
  };

  InProcessEndpoint(const codegen::ServiceBinding& binding, InProcessHooks* hooks);

  absl::Status StartServer(const WorkerOptions& options);
  // What the hooks decided for the call in `context` (the handler does not
  // run if they decided a status), with their delay waited.
  static std::optional<absl::Status> ApplyFault(void* hooked, ::iw::CallContext& context);
  // The hooked method tables' entries (unary, streaming).
  static absl::Status InvokeHooked(void* hooked, ::iw::CallContext& context,
                                   const google::protobuf::MessageLite& request,
                                   google::protobuf::MessageLite* response);
  static absl::Status InvokeStreamHooked(void* hooked, ::iw::CallContext& context,
                                         const google::protobuf::MessageLite* request, StreamIo& io,
                                         google::protobuf::MessageLite* response);
  absl::Status ExplainUnavailable(int method_index, const absl::Status& transport) override;

  // The status a call gets once the worker is dead or unreachable, or
  // nullopt while it is healthy.
  std::optional<absl::Status> BrokenLocked(int method_index) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::shared_ptr<Op> StartOp(int method_index, std::string request, const CallTiming& timing,
                              google::protobuf::MessageLite* target,
                              std::function<void(absl::Status)> done);
  void CompleteOp(const std::shared_ptr<Op>& op, absl::Status status);
  FailureDescription DescribeDeathLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // UNAVAILABLE kWorkerClosed: closed while the call was in flight.
  absl::Status ClosedMidCall(const std::string& method) const;
  WorkerCrash CrashDetailsLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Tells the supervisor (the death callback) that the worker died.
  void ReportDeath();
  // Fails every tracked call with the current broken status; `then` runs
  // afterwards on the event thread.
  void BreakLocked(std::function<void()> then) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const codegen::ServiceBinding binding_;
  InProcessHooks* const hooks_;
  Logger logger_;  // WorkerOptions::log_sink; set by StartServer(), before any thread
  HookedHandler hooked_;
  std::vector<codegen::MethodHandler> hooked_methods_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::unique_ptr<WorkerService> service_;  // routes the server's calls to dispatcher_
  std::unique_ptr<grpc::Server> server_;

  mutable absl::Mutex mu_;
  bool attached_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool crashed_ ABSL_GUARDED_BY(mu_) = false;
  bool dropped_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_mid_call_ ABSL_GUARDED_BY(mu_) = false;
  // How it died: "killed by signal SIGSEGV (Segmentation fault)", or the
  // reason it replaced itself (DEADLINE_REPLACE_WORKER).
  std::string death_ ABSL_GUARDED_BY(mu_);
  std::string replaced_reason_ ABSL_GUARDED_BY(mu_);
  // Completion callbacks of tracked calls not yet returned.
  int completions_pending_ ABSL_GUARDED_BY(mu_) = 0;
  std::string kill_reason_ ABSL_GUARDED_BY(mu_);
  std::function<void()> on_death_ ABSL_GUARDED_BY(mu_);
  std::function<void(const std::string&)> on_recycle_ ABSL_GUARDED_BY(mu_);
  std::optional<ExitStatus> simulated_exit_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_set<std::shared_ptr<Op>> ops_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> close_result_ ABSL_GUARDED_BY(mu_);
  // Runs the consequences of a simulated death or drop (failing async calls,
  // telling the supervisor) off the caller's thread.
  std::vector<std::thread> event_threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_HOST_INPROCESS_ENDPOINT_H_
