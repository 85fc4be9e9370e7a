// -----------------------------------------------------------------------------
// File: host.h
// -----------------------------------------------------------------------------
//
// The host side of a worker: `iw::HostBase` is the base of every generated
// `<Service>Host`. It owns one worker (today: a spawned process) and the
// connection to it, and offers the lifecycle calls common to all services.
// The typed methods (one per RPC) live in the generated subclass.
//
// Example:
//
//   auto host = demo::CalculatorHost::Spawn({.executable = worker_path});
//   if (!host.ok()) return host.status();
//   absl::StatusOr<demo::AddResponse> sum = (*host)->Add(request);
//   iw::CallHandle pending = (*host)->AddAsync(
//       request, [](absl::StatusOr<demo::AddResponse> reply) { ... });
//   pending.Cancel();            // the callback runs with CANCELLED
//   absl::Status closed = (*host)->Close();

#ifndef IW_RUNTIME_HOST_H_
#define IW_RUNTIME_HOST_H_

// First: a clear message when the compiler is not in C++17 mode.
#include "runtime/requirements.h"

#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "runtime/call_handle.h"
#include "runtime/metrics.h"
#include "runtime/middleware.h"
#include "runtime/options.h"
#include "runtime/status_details.h"
#include "runtime/stream.h"
#include "runtime/worker_state.h"

namespace google::protobuf {
class MessageLite;
}  // namespace google::protobuf

namespace iw {
namespace internal {
class WorkerPool;
}  // namespace internal
namespace codegen {
class StartedWorkers;
}  // namespace codegen

// Base of generated hosts. Thread-safe: calls may be made from any number of
// threads at once.
//
// IMPORTANT:
// - Destroying a host closes it (see Close()); the worker process is reaped
//   and no callback of this host runs after the destructor returns.
// - Async callbacks run on framework threads; they must not block for long
//   and must not destroy the host.
class HostBase {
 public:
  HostBase(const HostBase&) = delete;
  HostBase& operator=(const HostBase&) = delete;
  virtual ~HostBase();

  // Stops the worker: new calls fail with FAILED_PRECONDITION, in-flight
  // calls get `options.grace` to finish, then SIGTERM, then after
  // `options.term_timeout` SIGKILL. Returns once the process is reaped and its
  // resources released. Idempotent; returns at once if the worker already
  // died. Returns OK when the worker exited on its own accord (exit 0 or after
  // our SIGTERM), otherwise a status saying how it ended.
  absl::Status Close(const CloseOptions& options = {});

  WorkerState state() const;
  // True while calls are accepted (starting or ready).
  bool IsActive() const;
  // The current worker's process id; 0 if none is running.
  int pid() const;
  // The current worker's identifier, used in logs and error messages, e.g.
  // "Calculator#1 (pid 123)". Changes when the worker is replaced.
  std::string worker_id() const;
  // Workers, calls in flight/queued, completed/failed counters. For a plain
  // Spawn() the "pool" is the one worker.
  PoolStats stats() const;
  // Per-method call metrics, pool and per-worker metrics since the host
  // started (cumulative; see metrics.h and docs/observability.md).
  HostMetrics Metrics() const;

 protected:
  // Generated factories construct hosts from the workers they started.
  explicit HostBase(codegen::StartedWorkers workers);

  // The typed call paths of the generated methods: one out-of-line call into
  // the runtime each (CallErased / CallAsyncErased), no other layer.
  template <typename Response>
  absl::StatusOr<Response> Call(int method_index, const google::protobuf::MessageLite& request,
                                const CallOptions& options) {
    Response response;
    absl::Status status = CallErased(method_index, request, &response, options);
    if (!status.ok()) return status;
    return response;
  }
  template <typename Response>
  CallHandle CallAsync(int method_index, const google::protobuf::MessageLite& request,
                       std::function<void(absl::StatusOr<Response>)> done,
                       const CallOptions& options) {
    auto response = std::make_shared<Response>();
    Response* raw = response.get();
    return CallAsyncErased(
        method_index, request, raw, options,
        [response = std::move(response), done = std::move(done)](absl::Status status) mutable {
          if (status.ok()) {
            done(std::move(*response));
          } else {
            done(std::move(status));
          }
        });
  }

  // The streaming methods' paths (stream.h). Never null: a stream that
  // could not be opened has ended already with the reason. `request` is the
  // one request of a server-streaming method (sent, then writes closed; the
  // stream may retry it per the crash policy before its first response),
  // else null.
  std::unique_ptr<internal::ClientStream> OpenStream(int method_index,
                                                     const google::protobuf::MessageLite* request,
                                                     const CallOptions& options);
  // A server-streaming call read on a framework thread: `on_message` runs
  // for each response, in order, then `done` exactly once with the final
  // status. Callbacks of one call never run concurrently.
  template <typename Response>
  CallHandle StreamAsync(int method_index, const google::protobuf::MessageLite& request,
                         std::function<void(Response)> on_message,
                         std::function<void(absl::Status)> done, const CallOptions& options) {
    auto response = std::make_shared<Response>();
    Response* raw = response.get();
    return StreamAsyncErased(
        method_index, request, raw,
        [response = std::move(response), on_message = std::move(on_message)] {
          Response message = std::move(*response);
          *response = Response();
          on_message(std::move(message));
        },
        std::move(done), options);
  }

 private:
  // Reads each response into `response`, then runs `on_message`.
  CallHandle StreamAsyncErased(int method_index, const google::protobuf::MessageLite& request,
                               google::protobuf::MessageLite* response,
                               std::function<void()> on_message,
                               std::function<void(absl::Status)> done, const CallOptions& options);
  absl::Status CallErased(int method_index, const google::protobuf::MessageLite& request,
                          google::protobuf::MessageLite* response, const CallOptions& options);
  // `response` must stay alive until `done` has run.
  CallHandle CallAsyncErased(int method_index, const google::protobuf::MessageLite& request,
                             google::protobuf::MessageLite* response, const CallOptions& options,
                             std::function<void(absl::Status)> done);

  std::unique_ptr<internal::WorkerPool> pool_;
};

}  // namespace iw

#endif  // IW_RUNTIME_HOST_H_
