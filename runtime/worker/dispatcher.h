// FOR INTERNAL USE. The worker side of a call, whatever carried it: looks the
// method up in the generated method table, parses the request, runs
// middleware and the user's handler on a bounded pool of threads
// (Dispatcher::Execute) and hands the reply back to the carrier. The carriers
// are worker/unary_call.h and worker/call_stream.h; worker/service.h routes
// gRPC calls to them. No gRPC type here.
//
// Handlers never run on gRPC's own threads: a CPU-heavy or blocking handler
// cannot stall the transport, and `max_concurrent_calls` bounds how many run
// at once (further calls wait in a FIFO queue, still bound by their deadline).
#ifndef IW_RUNTIME_WORKER_DISPATCHER_H_
#define IW_RUNTIME_WORKER_DISPATCHER_H_

#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "runtime/codegen_support/handler_adapter.h"
#include "runtime/metadata.h"
#include "runtime/middleware.h"
#include "runtime/worker/executor.h"
#include "runtime/worker/overrun_watchdog.h"
#include "runtime/worker/worker_stream_call.h"

namespace iw::internal {

// A long-lived stream of calls (the worker end of the call stream), which
// must end by itself when the worker shuts down.
class WorkerStream {
 public:
  virtual ~WorkerStream() = default;
  // The worker is shutting down: answer the calls in flight, refuse new
  // ones, then end. True if the stream is idle and the caller must call
  // FinishNow() (outside its own locks).
  virtual bool BeginShutdown() = 0;
  virtual void FinishNow() = 0;
};

// INTERNAL naming the method and the reply type: `response` could not be
// serialized (`why`).
absl::Status SerializeFailed(const CallContext& context,
                             const google::protobuf::MessageLite& response, absl::string_view why);

// Serves every method of one bound handler. Thread-safe.
class Dispatcher final {
 public:
  // `worker_id` names this worker in logs; `config.middleware` runs around
  // every handler.
  Dispatcher(const codegen::ServiceBinding& binding, std::string worker_id,
             WorkerConfig config = WorkerConfig());
  ~Dispatcher();

  // Waits until no handler is queued or running; false if `deadline` passed.
  bool WaitIdle(absl::Time deadline) { return executor_.WaitIdle(deadline); }

  const codegen::ServiceBinding& binding() const { return binding_; }
  const WorkerConfig& config() const { return config_; }
  const std::string& worker_id() const { return worker_id_; }
  // Where this worker's records go (WorkerConfig::log_sink, else the
  // process-wide sink).
  const Logger& logger() const { return logger_; }
  Executor& executor() { return executor_; }
  // Index of the method with gRPC path `path`, or -1.
  int FindMethod(absl::string_view path) const;

  // One call, for either transport (a unary RPC or the call stream):
  // skips the handler if the call was cancelled while queued, arms the
  // overrun watchdog for `replace_after`, parses the request with `parse`,
  // runs middleware and the handler, moves the valid response metadata to
  // `response_metadata`, turns a reply after the deadline into
  // DEADLINE_EXCEEDED (kDeadlinePassedInWorker, cause kCallDeadline: the
  // host reports it as its own deadline), and on success hands the reply to
  // `serialize`, whose status is the call's. If `worker_us` is not null, it
  // holds the worker's own time for the call (kWorkerTimeMetadataKey: from
  // here to the handler's result) before `serialize` runs and on return.
  // Runs on the calling thread.
  absl::Status Execute(
      int method_index, CallContext& context, std::optional<absl::Duration> replace_after,
      absl::FunctionRef<bool(google::protobuf::MessageLite*)> parse,
      absl::FunctionRef<absl::Status(const google::protobuf::MessageLite&)> serialize,
      Metadata* response_metadata, uint64_t* worker_us = nullptr);

  // One streaming call (stream.h), for either carrier: like Execute(), for
  // a method with MethodHandler::invoke_stream. Reads the one request of a
  // server-streaming method from `io` first (INVALID_ARGUMENT if the host
  // closed its writes without one) and writes the one response of a
  // client-streaming method to `io` on success. Worker middleware runs once
  // per stream: WorkerCall::request is that one request (else null),
  // WorkerCall::response that one response (else null). A failure of `io`
  // (a message over the size limit, a malformed request) is the status,
  // whatever the handler returned. Runs on the calling thread.
  absl::Status ExecuteStream(int method_index, CallContext& context,
                             std::optional<absl::Duration> replace_after, WorkerStreamCall& io,
                             Metadata* response_metadata);

  // Streams register while they live; false once shutting down (the
  // stream must end at once).
  bool RegisterStream(WorkerStream* stream);
  void UnregisterStream(WorkerStream* stream);
  // Tells every stream that the worker is shutting down (see
  // WorkerStream). Call before grpc::Server::Shutdown(), which waits for
  // every call, streams included.
  void BeginShutdown();

  // What to do when a DEADLINE_REPLACE_WORKER handler overruns its deadline
  // plus grace (see OverrunWatchdog). Default: log and exit the process.
  // Set before serving.
  void SetOverrunHandler(OverrunWatchdog::OnOverrun on_overrun);
  OverrunWatchdog& watchdog() { return *watchdog_; }
  // What to do, once, when a handler calls CallContext::RequestRecycle().
  // Default: nothing. Set before serving.
  void SetRecycleHandler(std::function<void()> on_recycle) { on_recycle_ = std::move(on_recycle); }

  // A standalone worker (--iw_listen) serves clients that are not our host:
  // any gRPC client, with no deadline or a longer one than the .proto's, and
  // none of our per-call policy. With this set (before serving), every call
  // is bound by its .proto: its deadline is at most (iw.method).timeout_ms
  // (else (iw.service).default_timeout_ms) from its arrival, and a
  // DEADLINE_REPLACE_WORKER method gets its .proto grace unless the caller
  // sent one (the overrun handler then ends the process, for its supervisor
  // to restart). A caller can only make its call's bounds tighter.
  void BoundCallsByProto() { proto_bounds_ = true; }
  // The deadline a call arriving now with `caller_deadline` runs under.
  absl::Time BoundedDeadline(int method_index, absl::Time caller_deadline) const;
  // The DEADLINE_REPLACE_WORKER grace a call runs under, given the caller's.
  std::optional<absl::Duration> BoundedReplaceAfter(
      int method_index, std::optional<absl::Duration> caller_replace_after) const;

 private:
  // What both kinds of call share around `body` (the handler): skips it if
  // the call was cancelled while queued, arms the overrun watchdog, notices
  // RequestRecycle(), collects the response metadata.
  // WorkerConfig::tracer's scope for one call; null if none.
  std::unique_ptr<TraceScope> StartTraceScope(const CallContext& context) const;
  absl::Status RunCall(CallContext& context, std::optional<absl::Duration> replace_after,
                       absl::FunctionRef<absl::Status()> body, Metadata* response_metadata);

  const codegen::ServiceBinding binding_;
  const std::string worker_id_;
  const WorkerConfig config_;
  const Logger logger_;
  absl::flat_hash_map<std::string, int> methods_by_path_;
  std::unique_ptr<OverrunWatchdog> watchdog_;
  std::function<void()> on_recycle_;
  std::atomic<bool> recycle_requested_{false};
  absl::Mutex streams_mu_;
  absl::flat_hash_set<WorkerStream*> streams_ ABSL_GUARDED_BY(streams_mu_);
  bool shutting_down_ ABSL_GUARDED_BY(streams_mu_) = false;
  bool proto_bounds_ = false;   // set before serving, then read only
  const double timeout_scale_;  // $IW_TIMEOUT_SCALE, as on the host
  Executor executor_;
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_WORKER_DISPATCHER_H_
