// -----------------------------------------------------------------------------
// File: testing/fault_injector.h
// -----------------------------------------------------------------------------
//
// Fault injection for tests of code that uses an isolated-workers host. Give
// a `FaultInjector` to the generated `<Service>Host::InProcess()` and make
// calls fail, stall, crash the worker or lose the connection, on demand.
// Every fault is observed by the host exactly as the real one would be: the
// same status code and message shape, the same state changes, respawns and
// crash-policy retries (see docs/testing.md for the table).
//
// Example:
//
//   MyHandler handler;
//   iw::testing::FaultInjector faults;
//   auto host = demo::CalculatorHost::InProcess(handler, faults);
//
//   faults.InjectNext(iw::testing::Fault::Fail(absl::NotFoundError("gone")));
//   faults.InjectNext("Add", iw::testing::Fault::Delay(absl::Seconds(1)));
//   faults.InjectNext(iw::testing::Fault::Crash(SIGSEGV));   // dies in the next call
//   faults.InjectAll("Divide", iw::testing::Fault::Exit(3));
//   faults.CrashNow(SIGKILL);                                 // dies now
//   // UNAVAILABLE "demo.Calculator.Add: worker Calculator#1 (in-process)
//   //   crashed: killed by signal SIGKILL (Killed)"; a fresh worker follows.

#ifndef IW_RUNTIME_TESTING_FAULT_INJECTOR_H_
#define IW_RUNTIME_TESTING_FAULT_INJECTOR_H_

#include <signal.h>

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "runtime/in_process.h"

namespace iw::testing {

// What happens to one call that reaches the worker. A value type.
class Fault {
 public:
  // The call fails with `status`, as if the handler had returned it (the
  // handler does not run). It reaches the host unchanged, as a handler's
  // status does; an UNAVAILABLE is reported like one from a real worker
  // ("<method>: connection to worker <id> failed: <message>").
  static Fault Fail(absl::Status status);
  // The worker waits `delay` before running the handler, like a slow or
  // overloaded worker: a deadline that passes meanwhile gives the host the
  // usual DEADLINE_EXCEEDED "<method>: deadline exceeded after 50ms
  // (timeout from ...)", and the handler does not run.
  static Fault Delay(absl::Duration delay);
  // The worker dies by `signal` while handling the call: the call (and
  // every other in flight) fails with UNAVAILABLE "<method>: worker <id>
  // crashed: killed by signal SIGSEGV (Segmentation fault)", the host's
  // state goes to kCrashed and a fresh worker is started (RespawnPolicy);
  // methods with CrashPolicy::kRetry run again on it.
  static Fault Crash(int signal = SIGSEGV);
  // The same for a worker that exits with `exit_code` ("crashed: exit code
  // 3").
  static Fault Exit(int exit_code);
  // The connection to the (live) worker breaks while the call is in flight:
  // it and every later call fail with UNAVAILABLE "<method>: connection to
  // worker <id> failed: Socket closed". As with a real worker process, the
  // worker is not counted as crashed and is not replaced.
  static Fault DropConnection();

  // The same fault, after the worker has waited `delay` (e.g. a crash while
  // a call is in flight: Fault::Crash().After(absl::Milliseconds(100))).
  Fault After(absl::Duration delay) const;

  const CallFault& spec() const { return spec_; }

 private:
  explicit Fault(CallFault spec) : spec_(std::move(spec)) {}
  CallFault spec_;
};

// Injects faults into in-process workers. Thread-safe.
//
// IMPORTANT:
// - Pass it to `<Service>Host::InProcess(handler, injector, ...)`; it must
//   outlive every host it was given to. One injector may serve several
//   hosts; its rules then apply to the calls of all of them.
// - Rules are checked in the order they were added, when a call reaches the
//   worker (after any wait for a free worker); the first that matches
//   applies, and a counted rule is used up by it.
// - In-process mode cannot kill a handler: after a simulated crash, handlers
//   still running are asked to stop (IsCancelled()) and their replies are
//   dropped, but they run to their end.
class FaultInjector final : public InProcessHooks {
 public:
  FaultInjector() = default;
  FaultInjector(const FaultInjector&) = delete;
  FaultInjector& operator=(const FaultInjector&) = delete;
  ~FaultInjector() override;

  // The next `count` calls, of any method, get `fault`.
  void InjectNext(Fault fault, int count = 1);
  // The next `count` calls of `method` get `fault`. `method` is the simple
  // name ("Add") or the gRPC path ("/demo.Calculator/Add").
  void InjectNext(absl::string_view method, Fault fault, int count = 1);
  // Every call of `method` gets `fault` until Clear().
  void InjectAll(absl::string_view method, Fault fault);
  // Forgets every rule not used up yet.
  void Clear();

  // The current worker(s) die now, killed by `signal` / exiting with
  // `exit_code` (see Fault::Crash). Returns once the host has taken note
  // (its state is kCrashed; the next call waits for the replacement), a
  // race a real crash leaves open. No effect without a running worker.
  void CrashNow(int signal = SIGSEGV);
  void ExitNow(int exit_code);
  // The connection to the current worker(s) breaks now (see
  // Fault::DropConnection).
  void DropConnectionNow();

  // Calls that reached a worker, faulted or not.
  int64_t calls_seen() const;
  // Calls a rule applied to.
  int64_t faults_injected() const;
  // Workers started with this injector and not closed yet.
  int workers() const;
  // Waits until at least `count` workers run (e.g. the replacement after a
  // crash); false if `timeout` passed first.
  bool WaitForWorkers(int count, absl::Duration timeout) const;

  // InProcessHooks.
  void Attach(InProcessWorker* worker) override;
  void Detach(InProcessWorker* worker) override;
  CallFault BeforeCall(InProcessWorker* worker, int method_index,
                       const std::string& method) override;

 private:
  void KillWorkers(int signal, int exit_code);

  struct Rule {
    std::string method;  // empty: any
    CallFault fault;
    int remaining;  // -1: until Clear()
  };

  mutable absl::Mutex mu_;
  std::vector<Rule> rules_ ABSL_GUARDED_BY(mu_);
  std::vector<InProcessWorker*> workers_ ABSL_GUARDED_BY(mu_);
  int64_t calls_seen_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t faults_injected_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace iw::testing

#endif  // IW_RUNTIME_TESTING_FAULT_INJECTOR_H_
