// -----------------------------------------------------------------------------
// File: in_process.h
// -----------------------------------------------------------------------------
//
// The seam of in-process mode that tests plug into: `InProcessHooks` observe
// and perturb the in-process workers of a host started with the generated
// `<Service>Host::InProcess(handler, hooks, ...)`. Users normally pass an
// `iw::testing::FaultInjector` (runtime/testing/fault_injector.h) rather than
// implement these interfaces themselves.

#ifndef IW_RUNTIME_IN_PROCESS_H_
#define IW_RUNTIME_IN_PROCESS_H_

// First: a clear message when the compiler is not in C++17 mode.
#include "runtime/requirements.h"

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace iw {

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

}  // namespace iw

#endif  // IW_RUNTIME_IN_PROCESS_H_
