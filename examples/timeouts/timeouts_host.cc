// The host of the timeouts example: where a call's timeout comes from, what
// the worker's handler sees of it, cancellation, late replies, the startup
// timeout and $IW_TIMEOUT_SCALE.
//
//   tools/bazel run //examples/timeouts:timeouts
//
// Exit status 0 if every call failed (or succeeded) the way the comments say.
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "examples/timeouts/timeouts.iw.h"
#include "runtime/paths.h"

namespace {

using timeouts::v1::NapReply;
using timeouts::v1::NapRequest;
using timeouts::v1::SleeperHost;
using timeouts::v1::SleeperMethodConfig;

bool g_ok = true;

iw::WorkerOptions Options() {
  iw::WorkerOptions options;
  options.executable = iw::SiblingExecutable("timeouts_worker");
  // The .proto's 1 s is tight on a loaded machine; part 3 shows it at work.
  options.startup_timeout = absl::Seconds(10);
  return options;
}

std::unique_ptr<SleeperHost> SpawnOrDie(iw::WorkerOptions options,
                                        const SleeperMethodConfig& methods = {}) {
  absl::StatusOr<std::unique_ptr<SleeperHost>> host = SleeperHost::Spawn(options, methods);
  if (!host.ok()) {
    std::printf("spawn failed: %s\n", host.status().ToString().c_str());
    std::exit(1);
  }
  return std::move(*host);
}

// A nap much longer than any timeout here; the handler stops as soon as the
// host has given up.
NapRequest LongNap() {
  NapRequest nap;
  nap.set_ms(10000);
  nap.set_stop_when_cancelled(true);
  return nap;
}

void Check(bool condition, const char* what) {
  if (!condition) {
    std::printf("UNEXPECTED: %s\n", what);
    g_ok = false;
  }
}

// Prints "<label> <method> -> <status> (returned after N ms)" and checks that
// the bound and its source are the expected ones.
void ShowTimeout(const char* label, const char* method, absl::Time start,
                 const absl::Status& status, const std::string& expected) {
  std::printf("%-34s %-8s -> %s (returned after %lld ms)\n", label, method,
              status.ToString(absl::StatusToStringMode::kWithNoExtraData).c_str(),
              static_cast<long long>(absl::ToInt64Milliseconds(absl::Now() - start)));
  Check(status.code() == absl::StatusCode::kDeadlineExceeded &&
            absl::StrContains(status.message(), expected),
        expected.c_str());
}

void CallNap(SleeperHost& host, const char* label, const iw::CallOptions& call,
             const std::string& expected) {
  absl::Time start = absl::Now();
  ShowTimeout(label, "Nap", start, host.Nap(LongNap(), call).status(), expected);
}

void CallQuickNap(SleeperHost& host, const char* label, const std::string& expected) {
  absl::Time start = absl::Now();
  ShowTimeout(label, "QuickNap", start, host.QuickNap(LongNap()).status(), expected);
}

// Prints what the worker's handlers noticed (waiting up to 5 s for the
// handler of the previous call to get there).
void PrintEvents(SleeperHost& host) {
  absl::StatusOr<timeouts::v1::EventsReply> events;
  for (absl::Time give_up = absl::Now() + absl::Seconds(5); absl::Now() < give_up;) {
    events = host.Events({});
    if (!events.ok() || events->events_size() > 0) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  Check(events.ok() && events->events_size() > 0, "the worker noticed nothing");
  if (!events.ok()) return;
  for (const std::string& event : events->events()) {
    std::printf("  the worker noticed: %s\n", event.c_str());
  }
}

void ShowStartup(const char* label, iw::WorkerOptions options, const std::string& expected) {
  options.args = {"--slow-start"};  // the worker sleeps before serving
  absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<SleeperHost>> host = SleeperHost::Spawn(options);
  absl::Status status = host.status();
  std::printf("%s -> %s (returned after %lld ms)\n", label,
              status.ToString(absl::StatusToStringMode::kWithNoExtraData).c_str(),
              static_cast<long long>(absl::ToInt64Milliseconds(absl::Now() - start)));
  Check(status.code() == absl::StatusCode::kDeadlineExceeded &&
            absl::StrContains(status.message(), expected),
        expected.c_str());
}

}  // namespace

int main() {
  // Our lines and the framework's (stderr) in the order they happen.
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  // Show unscaled bounds first (the scale is demonstrated at the end).
  if (const char* scale = std::getenv("IW_TIMEOUT_SCALE")) {
    std::printf("note: unsetting IW_TIMEOUT_SCALE=%s for this example\n", scale);
    ::unsetenv("IW_TIMEOUT_SCALE");
  }

  std::printf("1. Where a call's timeout comes from (the first one set wins):\n");
  {
    // Nothing set on the host: the .proto decides.
    std::unique_ptr<SleeperHost> host = SpawnOrDie(Options());
    CallNap(*host, "(iw.service).default_timeout_ms:", {},
            "deadline exceeded after 400ms (timeout from (iw.service).default_timeout_ms)");
    CallQuickNap(*host, "(iw.method).timeout_ms:",
                 "deadline exceeded after 150ms (timeout from (iw.method).timeout_ms)");
  }
  {
    // WorkerOptions::call_timeout: every method of this host, over the .proto.
    iw::WorkerOptions options = Options();
    options.call_timeout = absl::Milliseconds(250);
    std::unique_ptr<SleeperHost> host = SpawnOrDie(options);
    CallQuickNap(*host, "WorkerOptions::call_timeout:",
                 "deadline exceeded after 250ms (timeout from WorkerOptions::call_timeout)");

    // The typed per-method config: one method, over WorkerOptions.
    SleeperMethodConfig methods;
    methods.nap.timeout = absl::Milliseconds(200);
    std::unique_ptr<SleeperHost> configured = SpawnOrDie(options, methods);
    CallNap(*configured, "SleeperMethodConfig::nap.timeout:", {},
            "deadline exceeded after 200ms (timeout from the host's MethodConfig for Nap)");

    // CallOptions::timeout: this call only, over everything else.
    iw::CallOptions call;
    call.timeout = absl::Milliseconds(100);
    CallNap(*configured, "CallOptions::timeout:", call,
            "deadline exceeded after 100ms (timeout from CallOptions::timeout)");
  }

  std::printf("\n2. What the worker's handler sees:\n");
  {
    std::unique_ptr<SleeperHost> host = SpawnOrDie(Options());

    // The deadline travels with the call.
    iw::CallOptions call;
    call.timeout = absl::Seconds(2);
    NapRequest short_nap;
    short_nap.set_ms(10);
    absl::StatusOr<NapReply> reply = host->Nap(short_nap, call);
    Check(reply.ok(), "a 10 ms nap within 2 s failed");
    if (reply.ok()) {
      std::printf("a call with a 2 s timeout: the handler saw its deadline %lld ms away\n",
                  static_cast<long long>(reply->deadline_left_ms()));
      Check(reply->deadline_left_ms() > 1000 && reply->deadline_left_ms() <= 2100,
            "the handler's deadline is not ~2 s away");
    }

    // Cancellation: the callback runs at once with CANCELLED; the handler
    // sees IsCancelled() and stops early.
    absl::Notification done;
    absl::Status cancelled;
    absl::Time start = absl::Now();
    iw::CallHandle handle = host->NapAsync(LongNap(), [&](absl::StatusOr<NapReply> result) {
      cancelled = result.status();
      done.Notify();
    });
    absl::SleepFor(absl::Milliseconds(200));  // let the handler start napping
    handle.Cancel();
    done.WaitForNotification();
    std::printf("an async Nap(10000 ms) cancelled after 200 ms -> %s (after %lld ms)\n",
                cancelled.ToString().c_str(),
                static_cast<long long>(absl::ToInt64Milliseconds(absl::Now() - start)));
    Check(cancelled.code() == absl::StatusCode::kCancelled,
          "the cancelled call did not fail "
          "with CANCELLED");
    PrintEvents(*host);

    // A handler that ignores its deadline: the host stops waiting at the
    // deadline; the handler runs on, and its late reply is dropped.
    NapRequest stubborn;
    stubborn.set_ms(300);
    stubborn.set_stop_when_cancelled(false);
    iw::CallOptions quick;
    quick.timeout = absl::Milliseconds(100);
    start = absl::Now();
    absl::Status late = host->Nap(stubborn, quick).status();
    std::printf("Nap(300 ms) ignoring its 100 ms timeout -> %s (after %lld ms)\n",
                late.ToString().c_str(),
                static_cast<long long>(absl::ToInt64Milliseconds(absl::Now() - start)));
    Check(late.code() == absl::StatusCode::kDeadlineExceeded, "no DEADLINE_EXCEEDED");
    PrintEvents(*host);  // once the handler has finished its nap
  }

  std::printf("\n3. (iw.method) on_deadline: DEADLINE_REPLACE_WORKER, deadline_grace_ms: 200\n");
  {
    iw::WorkerOptions options = Options();
    options.stderr_mode = iw::OutputMode::kDiscard;  // the worker logs why it goes
    std::unique_ptr<SleeperHost> host = SpawnOrDie(options);
    const int pid = host->pid();
    // A bystander: another call on the same worker, with a long deadline.
    absl::Notification bystander_done;
    absl::Status bystander;
    iw::CallOptions patient;
    patient.timeout = absl::Seconds(20);
    NapRequest nap;
    nap.set_ms(3000);
    host->NapAsync(
        nap,
        [&](absl::StatusOr<NapReply> reply) {
          bystander = reply.status();
          bystander_done.Notify();
        },
        patient);
    // The stuck call.
    NapRequest stuck;
    stuck.set_ms(5000);
    stuck.set_stop_when_cancelled(false);
    absl::Time start = absl::Now();
    ShowTimeout("Crunch, ignoring its deadline:", "Crunch", start, host->Crunch(stuck).status(),
                "deadline exceeded after 300ms (timeout from (iw.method).timeout_ms)");
    bystander_done.WaitForNotification();
    std::printf("the bystander Nap on the same worker -> %s (after %lld ms)\n",
                bystander.ToString(absl::StatusToStringMode::kWithNoExtraData).c_str(),
                static_cast<long long>(absl::ToInt64Milliseconds(absl::Now() - start)));
    Check(bystander.code() == absl::StatusCode::kUnavailable &&
              absl::StrContains(bystander.message(), "DEADLINE_REPLACE_WORKER"),
          "the bystander was not told that the worker was replaced");
    NapRequest short_nap;
    short_nap.set_ms(1);
    absl::StatusOr<NapReply> next = host->Nap(short_nap);
    Check(next.ok() && host->pid() != pid, "no fresh worker after the replacement");
    std::printf("the next call -> %s on a fresh worker (pid %d, was %d)\n",
                next.status().ToString(absl::StatusToStringMode::kWithNoExtraData).c_str(),
                host->pid(), pid);
  }

  std::printf("\n4. The startup timeout (a worker that never gets ready):\n");
  iw::WorkerOptions proto_startup = Options();
  proto_startup.startup_timeout.reset();  // let the .proto decide
  ShowStartup("(iw.service).startup_timeout_ms", proto_startup,
              "not ready within 1s (startup timeout from (iw.service).startup_timeout_ms); "
              "it was still running and has been killed");
  {
    iw::WorkerOptions options = Options();
    options.startup_timeout = absl::Milliseconds(200);
    ShowStartup("WorkerOptions::startup_timeout", options,
                "not ready within 200ms (startup timeout from WorkerOptions::startup_timeout)");
  }

  std::printf("\n5. $IW_TIMEOUT_SCALE multiplies every bound (for slow or loaded machines):\n");
  // setenv() is not thread-safe: we call it while no host is running. In
  // real use, set it in the environment of the whole process (e.g. CI).
  ::setenv("IW_TIMEOUT_SCALE", "3", 1);
  {
    std::unique_ptr<SleeperHost> host = SpawnOrDie(Options());
    CallQuickNap(*host, "IW_TIMEOUT_SCALE=3:",
                 "deadline exceeded after 450ms (timeout from (iw.method).timeout_ms x3 "
                 "($IW_TIMEOUT_SCALE))");
  }
  {
    iw::WorkerOptions options = Options();
    options.startup_timeout = absl::Milliseconds(100);
    ShowStartup("IW_TIMEOUT_SCALE=3: startup", options,
                "not ready within 300ms (startup timeout from WorkerOptions::startup_timeout "
                "x3 ($IW_TIMEOUT_SCALE))");
  }
  ::unsetenv("IW_TIMEOUT_SCALE");

  std::printf("\n%s\n", g_ok ? "all timeouts behaved as described" : "SOMETHING UNEXPECTED");
  return g_ok ? 0 : 1;
}
