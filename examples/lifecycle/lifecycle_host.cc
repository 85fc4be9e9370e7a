// The host of the lifecycle example: a worker's states from spawn to close,
// what the host tells about it (IsActive, pid, worker_id, stats), state that
// lives in the worker process, closing, and a frozen worker that Close() has
// to SIGKILL.
//
//   tools/bazel run //examples/lifecycle:lifecycle
//
// Exit status 0 if everything behaved as the comments say.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "examples/lifecycle/lifecycle.iw.h"
#include "runtime/paths.h"

namespace {

using lifecycle::v1::AddReply;
using lifecycle::v1::AddRequest;
using lifecycle::v1::CounterHost;

bool g_ok = true;

void Check(bool condition, const char* what) {
  if (!condition) {
    std::printf("UNEXPECTED: %s\n", what);
    g_ok = false;
  }
}

void PrintHost(const char* when, const CounterHost& host) {
  std::printf("%s: state %s, IsActive() %s, pid() %d, worker_id() \"%s\"\n", when,
              iw::WorkerStateName(host.state()), host.IsActive() ? "true" : "false", host.pid(),
              host.worker_id().c_str());
}

void PrintStats(const CounterHost& host) {
  iw::PoolStats s = host.stats();
  std::printf(
      "stats(): workers %d (busy %d, idle %d), calls completed %lld, failed %lld, "
      "workers spawned %lld, crashed %lld\n",
      s.workers, s.workers_busy, s.workers_idle, static_cast<long long>(s.calls_completed),
      static_cast<long long>(s.calls_failed), static_cast<long long>(s.workers_spawned),
      static_cast<long long>(s.workers_crashed));
}

}  // namespace

int main() {
  // Our lines and the framework's (stderr) in the order they happen.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);

  iw::WorkerOptions options;
  options.executable = iw::SiblingExecutable("lifecycle_worker");
  // Runs on a framework thread at every transition; must not block or call
  // back into the host.
  options.on_state_change = [](iw::WorkerState state, const std::string& worker_id) {
    std::printf("  [on_state_change] %s: %s\n", worker_id.c_str(), iw::WorkerStateName(state));
  };

  std::printf("1. Spawn\n");
  absl::StatusOr<std::unique_ptr<CounterHost>> spawned = CounterHost::Spawn(options);
  if (!spawned.ok()) {
    std::printf("spawn failed: %s\n", spawned.status().ToString().c_str());
    return 1;
  }
  CounterHost& host = **spawned;
  PrintHost("after Spawn()", host);
  Check(host.IsActive() && host.pid() > 0 && host.pid() != ::getpid(), "not active after spawn");
  const int pid = host.pid();

  std::printf("\n2. State in the worker lives as long as its process\n");
  for (int amount : {1, 10, 100}) {
    AddRequest request;
    request.set_amount(amount);
    absl::StatusOr<AddReply> reply = host.Add(request);
    Check(reply.ok(), "Add() failed");
    if (!reply.ok()) return 1;
    std::printf("Add(%d) -> total %lld, call #%lld served by pid %d\n", amount,
                static_cast<long long>(reply->total()),
                static_cast<long long>(reply->calls_served()), reply->worker_pid());
    Check(reply->worker_pid() == pid, "a call went to another process");
  }
  PrintStats(host);

  std::printf("\n3. Close\n");
  iw::CloseOptions close;
  close.grace = absl::Seconds(2);         // in-flight calls may finish
  close.term_timeout = absl::Seconds(1);  // then SIGTERM, then SIGKILL
  absl::Time start = absl::Now();
  absl::Status closed = host.Close(close);
  std::printf(
      "Close(grace 2s, term_timeout 1s) -> %s (the worker drained and exited by "
      "itself in %lld ms)\n",
      closed.ToString().c_str(),
      static_cast<long long>(absl::ToInt64Milliseconds(absl::Now() - start)));
  Check(closed.ok(), "Close() failed");
  PrintHost("after Close()", host);
  Check(!host.IsActive() && host.pid() == 0, "still active after close");
  Check(::kill(pid, 0) != 0, "the worker process still exists");
  std::printf("the worker process %d is gone (reaped: kill(pid, 0) fails)\n", pid);

  AddRequest one;
  one.set_amount(1);
  absl::Status after = host.Add(one).status();
  std::printf("Add() after Close() -> %s\n", after.ToString().c_str());
  Check(after.code() == absl::StatusCode::kFailedPrecondition, "no FAILED_PRECONDITION");
  absl::Status again = host.Close();
  std::printf("Close() again -> %s (idempotent)\n", again.ToString().c_str());
  Check(again.ok(), "second Close() failed");

  std::printf("\n4. A fresh worker starts from scratch\n");
  spawned = CounterHost::Spawn(options);
  if (!spawned.ok()) {
    std::printf("spawn failed: %s\n", spawned.status().ToString().c_str());
    return 1;
  }
  CounterHost& fresh = **spawned;
  absl::StatusOr<AddReply> reply = fresh.Add(one);
  Check(reply.ok() && reply->total() == 1, "the new worker did not start from 0");
  if (reply.ok()) {
    std::printf("Add(1) -> total %lld, served by pid %d (a new process, new state)\n",
                static_cast<long long>(reply->total()), reply->worker_pid());
  }

  std::printf("\n5. Closing a frozen worker: grace, then SIGTERM, then SIGKILL\n");
  // SIGSTOP freezes the worker: it can neither drain nor handle SIGTERM, like
  // a process stuck in the kernel or under a debugger. Close() escalates.
  ::kill(fresh.pid(), SIGSTOP);
  close.grace = absl::Milliseconds(200);
  close.term_timeout = absl::Milliseconds(200);
  start = absl::Now();
  closed = fresh.Close(close);
  std::printf("Close(grace 200ms, term_timeout 200ms) -> %s (after %lld ms)\n",
              closed.ToString().c_str(),
              static_cast<long long>(absl::ToInt64Milliseconds(absl::Now() - start)));
  Check(closed.code() == absl::StatusCode::kDeadlineExceeded &&
            absl::StrContains(closed.message(), "killed with SIGKILL"),
        "the frozen worker was not SIGKILLed");
  PrintHost("after Close()", fresh);

  std::printf("\n%s\n", g_ok ? "lifecycle as described" : "SOMETHING UNEXPECTED");
  return g_ok ? 0 : 1;
}
