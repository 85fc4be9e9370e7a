// -----------------------------------------------------------------------------
// File: codegen_support/host_stub_base.h
// -----------------------------------------------------------------------------
//
// FOR GENERATED CODE ONLY. Not a stable API; include the generated
// `<file>.iw.h` instead.
//
// Typed helpers the generated `<Service>Host` methods are written with, the
// factories they use to spawn a worker or to serve a handler in-process, and
// the in-process hooks fault injection plugs into.

#ifndef IW_RUNTIME_CODEGEN_SUPPORT_HOST_STUB_BASE_H_
#define IW_RUNTIME_CODEGEN_SUPPORT_HOST_STUB_BASE_H_

// First: a clear message when the compiler is not in C++17 mode.
#include "runtime/requirements.h"

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/codegen_support/handler_adapter.h"
#include "runtime/codegen_support/service_info.h"
#include "runtime/internal/connection.h"
#include "runtime/host.h"
#include "runtime/options.h"

namespace iw::internal {

// Spawns a worker for `service` and waits until it is ready (bounded by the
// startup timeout). `method_overrides` has one entry per method, in
// declaration order (or is empty).
absl::StatusOr<std::unique_ptr<Connection>> SpawnWorker(
    const ServiceInfo& service, WorkerOptions options,
    std::vector<MethodOverrides> method_overrides);

// Connects to workers that run elsewhere (one per address).
absl::StatusOr<std::unique_ptr<Connection>> ConnectWorkers(
    const ServiceInfo& service, const std::vector<std::string>& addresses,
    const RemoteOptions& remote, std::vector<MethodOverrides> method_overrides);

// The same for a pool of workers.
absl::StatusOr<std::unique_ptr<Connection>> SpawnWorkerPool(
    const ServiceInfo& service, WorkerOptions options, PoolOptions pool,
    std::vector<MethodOverrides> method_overrides);

// ---- In-process mode ------------------------------------------------------

// What happens to one call that reached an in-process worker, as decided by
// InProcessHooks::BeforeCall(). The default is nothing.
struct CallFault {
  enum class Outcome {
    kRunHandler,      // run the handler as usual
    kFail,            // the call fails with `status`, as if the handler
                      // returned it (the handler does not run)
    kCrash,           // the worker dies while handling the call (see
                      // InProcessWorker::SimulateDeath)
    kDropConnection,  // the connection breaks while the call is in flight
  };
  Outcome outcome = Outcome::kRunHandler;
  // Waited in the worker before the outcome (the handler does not run if
  // the call is cancelled or its deadline passes meanwhile).
  absl::Duration delay = absl::ZeroDuration();
  absl::Status status;  // kFail
  int signal = 0;       // kCrash: killed by this signal if non-zero,
  int exit_code = 0;    // else exited with this code
};

// One in-process worker, as hooks see it. Thread-safe.
class InProcessWorker {
 public:
  virtual ~InProcessWorker() = default;
  // "Calculator#3 (in-process)".
  virtual const std::string& id() const = 0;
  // Makes the worker behave as if its process had died now, killed by
  // `signal` (if non-zero) or exiting with `exit_code`: calls in flight and
  // calls that reach it fail with UNAVAILABLE "<method>: worker <id>
  // crashed: killed by signal SIGSEGV (Segmentation fault)", crashed() turns
  // true and the host's supervisor is told (state kCrashed, respawn, crash
  // policy) exactly as for a real worker. Handlers still running are asked
  // to stop (IsCancelled()) but cannot be killed; their replies are dropped.
  // Idempotent; no effect once the worker is closing. `reported` (may be
  // empty) runs once the supervisor has been told (or at once if there was
  // nothing to do), on some thread.
  virtual void SimulateDeath(int signal, int exit_code, std::function<void()> reported) = 0;
  // Makes the connection to the worker break now: calls in flight and later
  // calls fail with UNAVAILABLE "<method>: connection to worker <id> failed:
  // Socket closed". The worker is not dead (no crash, no respawn), as with
  // a real connection lost to a live worker process.
  virtual void DropConnection() = 0;
};

// Observes and perturbs in-process workers: the seam behind
// iw::testing::FaultInjector. Implementations must be thread-safe and must
// outlive every host started with them.
class InProcessHooks {
 public:
  virtual ~InProcessHooks() = default;
  // A worker started (first start or respawn) / is closing. A hook may call
  // the worker between the two, never after Detach() returned.
  virtual void Attach(InProcessWorker* worker) = 0;
  virtual void Detach(InProcessWorker* worker) = 0;
  // Runs in the worker, on a handler thread, before each call's handler:
  // what happens to this call. `method_index` is in declaration order,
  // `method` the gRPC path ("/demo.v1.Calculator/Add").
  virtual CallFault BeforeCall(InProcessWorker* worker, int method_index,
                               const std::string& method) = 0;
};

// Serves `binding` in this process behind the same supervisor as a spawned
// worker (a pool of exactly one worker). Of `options`, only call_timeout,
// on_state_change, respawn and max_request_bytes / max_response_bytes
// apply. `hooks` (may be null) must outlive the connection.
absl::StatusOr<std::unique_ptr<Connection>> StartInProcess(
    const ServiceBinding& binding, WorkerOptions options,
    std::vector<MethodOverrides> method_overrides, InProcessHooks* hooks = nullptr);

// Base of generated hosts: HostBase plus typed call templates.
class HostStub : public HostBase {
 protected:
  using HostBase::HostBase;

  // The generated factories' common tail: a host around `connection`.
  template <typename Host>
  static absl::StatusOr<std::unique_ptr<Host>> Wrap(
      absl::StatusOr<std::unique_ptr<Connection>> connection) {
    if (!connection.ok()) return connection.status();
    return std::unique_ptr<Host>(new Host(std::move(*connection)));
  }

  template <typename Response>
  absl::StatusOr<Response> Call(int method_index,
                                const google::protobuf::MessageLite& request,
                                const CallOptions& options) {
    Response response;
    absl::Status status = CallErased(method_index, request, &response, options);
    if (!status.ok()) return status;
    return response;
  }

  template <typename Response>
  CallHandle CallAsync(int method_index,
                       const google::protobuf::MessageLite& request,
                       std::function<void(absl::StatusOr<Response>)> done,
                       const CallOptions& options) {
    auto response = std::make_shared<Response>();
    Response* raw = response.get();
    return CallAsyncErased(
        method_index, request, raw, options,
        [response = std::move(response),
         done = std::move(done)](absl::Status status) mutable {
          if (status.ok()) {
            done(std::move(*response));
          } else {
            done(std::move(status));
          }
        });
  }
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_CODEGEN_SUPPORT_HOST_STUB_BASE_H_
