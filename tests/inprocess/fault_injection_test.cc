// iw::testing::FaultInjector: every fault it offers is observed by the host
// exactly as the real one. Where a real counterpart can be produced (a
// worker process that segfaults, exits, is SIGKILLed, is slow, or whose
// handler fails), the same test body runs against a spawned worker with the
// real fault and against an in-process worker with the injected one, and the
// statuses must match in code and message (worker ids redacted).
#include <signal.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "catch2/catch.hpp"
#include "runtime/testing/worker_ids.h"
#include "tests/inprocess/host_modes.h"

namespace {

using iw::testing::Fault;
using iw::testing::FaultInjector;
using iw::testing::IsOk;
using iw::testing::NoChildProcesses;
using iw::testing::RedactWorkerIds;
using iw::testing::StatusIs;
using iwtest::Mode;
using iwtest::StartHost;

// What both modes produced, to compare after the run.
struct Observed {
  absl::Status status;
  std::string redacted;
};

Observed Observe(const absl::Status& status) { return {status, RedactWorkerIds(status.message())}; }

// Records every state change of a host.
struct StateLog {
  absl::Mutex mu;
  std::vector<std::pair<iw::WorkerState, std::string>> events;

  iw::WorkerOptions Options() {
    iw::WorkerOptions options;
    options.stderr_mode = iw::OutputMode::kDiscard;
    options.on_state_change = [this](iw::WorkerState state, const std::string& id) {
      absl::MutexLock lock(&mu);
      events.emplace_back(state, id);
    };
    return options;
  }
  bool Saw(iw::WorkerState state, const std::string& id) {
    absl::MutexLock lock(&mu);
    for (const auto& [s, i] : events) {
      if (s == state && i == id) return true;
    }
    return false;
  }
};

TEST_CASE("FaultInjector: a simulated crash in a call is observed like a real worker crash",
          "[inprocess][faults]") {
  struct Case {
    int signal;
    int exit_code;
    const char* expected;
  };
  const Case c =
      GENERATE(Case{SIGSEGV, 0, "crashed: killed by signal SIGSEGV (Segmentation fault)"},
               Case{SIGABRT, 0, "crashed: killed by signal SIGABRT (Aborted)"},
               Case{0, 7, "crashed: exit code 7"});
  CAPTURE(c.expected);
  std::vector<Observed> seen;
  for (Mode mode : {Mode::kSpawned, Mode::kInProcess}) {
    CAPTURE(mode);
    {
      StateLog log;
      iwtest::TestHandler handler;
      FaultInjector faults;
      auto host = StartHost(mode, handler, log.Options(), {}, &faults);
      const std::string first_id = host->worker_id();
      iwtest::CrashRequest crash;
      crash.set_signal(c.signal);
      crash.set_exit_code(c.exit_code);
      if (mode == Mode::kInProcess) {
        // The fault replaces the handler: Crash() itself never runs here.
        faults.InjectNext("Crash",
                          c.signal != 0 ? Fault::Crash(c.signal) : Fault::Exit(c.exit_code));
      }
      absl::Status status = host->Crash(crash).status();
      CHECK_THAT(status, StatusIs(absl::StatusCode::kUnavailable,
                                  absl::StrCat("iwtest.TestService.Crash: worker ", first_id, " ",
                                               c.expected)));
      seen.push_back(Observe(status));

      // The supervisor reacts as to any crash: state kCrashed for the dead
      // worker, a fresh worker for the next call, the counters.
      absl::StatusOr<iwtest::EchoReply> reply = host->Echo(iwtest::EchoRequest());
      REQUIRE_THAT(reply.status(), IsOk());
      CHECK(host->worker_id() != first_id);
      CHECK(log.Saw(iw::WorkerState::kCrashed, first_id));
      iw::PoolStats stats = host->stats();
      CHECK(stats.workers_crashed == 1);
      CHECK(stats.workers_spawned == 2);
      CHECK(stats.calls_completed == 1);
      CHECK(stats.calls_failed == 1);
      CHECK_THAT(host->Close(), IsOk());
    }
    CHECK(NoChildProcesses());
  }
  REQUIRE(seen.size() == 2);
  CHECK(seen[0].status.code() == seen[1].status.code());
  CHECK(seen[0].redacted == seen[1].redacted);
  CHECK(seen[1].redacted ==
        absl::StrCat("iwtest.TestService.Crash: worker TestService#<id> ", c.expected));
}

TEST_CASE("FaultInjector: CrashNow fails calls in flight at once, like a worker SIGKILLed mid-call",
          "[inprocess][faults]") {
  std::vector<Observed> sync_seen;
  std::vector<Observed> async_seen;
  for (Mode mode : {Mode::kSpawned, Mode::kInProcess}) {
    CAPTURE(mode);
    {
      StateLog log;
      iwtest::TestHandler handler;
      FaultInjector faults;
      auto host = StartHost(mode, handler, log.Options(), {}, &faults);
      const std::string first_id = host->worker_id();
      iwtest::SleepRequest slow;
      slow.set_ms(3000);
      slow.set_stop_when_cancelled(true);
      iw::CallOptions options;
      options.timeout = absl::Seconds(10);
      absl::Notification async_done;
      absl::Status async_status;
      host->SleepAsync(
          slow,
          [&](absl::StatusOr<iwtest::SleepReply> reply) {
            async_status = reply.status();
            async_done.Notify();
          },
          options);
      absl::Status sync_status;
      std::thread caller([&] { sync_status = host->Sleep(slow, options).status(); });
      absl::SleepFor(absl::Milliseconds(200));  // both calls are in the handler
      const absl::Time crashed_at = absl::Now();
      if (mode == Mode::kSpawned) {
        REQUIRE(::kill(host->pid(), SIGKILL) == 0);
      } else {
        faults.CrashNow(SIGKILL);
      }
      REQUIRE(async_done.WaitForNotificationWithTimeout(absl::Seconds(5)));
      caller.join();
      CHECK(absl::Now() - crashed_at < absl::Seconds(2));
      CHECK_THAT(sync_status, StatusIs(absl::StatusCode::kUnavailable,
                                       "crashed: killed by signal SIGKILL (Killed)"));
      CHECK_THAT(async_status, StatusIs(absl::StatusCode::kUnavailable,
                                        "crashed: killed by signal SIGKILL (Killed)"));
      sync_seen.push_back(Observe(sync_status));
      async_seen.push_back(Observe(async_status));
      CHECK_THAT(host->Echo(iwtest::EchoRequest()).status(), IsOk());
      CHECK(log.Saw(iw::WorkerState::kCrashed, first_id));
      CHECK(host->stats().workers_crashed == 1);
    }
    CHECK(NoChildProcesses());
  }
  CHECK(sync_seen[0].redacted == sync_seen[1].redacted);
  CHECK(async_seen[0].redacted == async_seen[1].redacted);
  CHECK(sync_seen[1].redacted ==
        "iwtest.TestService.Sleep: worker TestService#<id> crashed: killed by signal SIGKILL "
        "(Killed)");
}

TEST_CASE("FaultInjector: an injected delay past the deadline gives the real DEADLINE_EXCEEDED",
          "[inprocess][faults]") {
  std::vector<Observed> seen;
  for (Mode mode : {Mode::kSpawned, Mode::kInProcess}) {
    CAPTURE(mode);
    {
      iwtest::TestHandler handler;
      FaultInjector faults;
      auto host = StartHost(mode, handler, {}, {}, &faults);
      iwtest::SleepRequest request;
      if (mode == Mode::kSpawned) {
        request.set_ms(1000);  // a really slow handler
      } else {
        faults.InjectNext("Sleep", Fault::Delay(absl::Seconds(1)));  // a quick handler, late
      }
      iw::CallOptions options;
      options.timeout = absl::Milliseconds(50);
      absl::Status status = host->Sleep(request, options).status();
      CHECK_THAT(status, StatusIs(absl::StatusCode::kDeadlineExceeded));
      seen.push_back(Observe(status));
      // The worker is still serving.
      faults.Clear();
      CHECK_THAT(host->Sleep(iwtest::SleepRequest()).status(), IsOk());
      CHECK(host->stats().workers_crashed == 0);
    }
    CHECK(NoChildProcesses());
  }
  CHECK(seen[0].status.message() == seen[1].status.message());
  CHECK(seen[1].status.message() ==
        "iwtest.TestService.Sleep: deadline exceeded after 50ms (timeout from "
        "CallOptions::timeout)");
}

TEST_CASE("FaultInjector: a delay within the deadline only slows the call down",
          "[inprocess][faults]") {
  {
    iwtest::TestHandler handler;
    FaultInjector faults;
    auto host = StartHost(Mode::kInProcess, handler, {}, {}, &faults);
    faults.InjectNext(Fault::Delay(absl::Milliseconds(100)));
    const absl::Time start = absl::Now();
    CHECK_THAT(host->Echo(iwtest::EchoRequest()).status(), IsOk());
    CHECK(absl::Now() - start >= absl::Milliseconds(100));
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("FaultInjector: an injected failure is what a handler returning it gives",
          "[inprocess][faults]") {
  const absl::Status injected =
      GENERATE(absl::NotFoundError("no such widget: 42"), absl::PermissionDeniedError("not yours"),
               absl::InternalError("database on fire"));
  CAPTURE(injected);
  {
    // The real one: the worker's Fail handler returns the status.
    iwtest::TestHandler handler;
    auto real = StartHost(Mode::kSpawned, handler);
    iwtest::FailRequest fail;
    fail.set_code(static_cast<int>(injected.code()));
    fail.set_message(std::string(injected.message()));
    const absl::Status from_handler = real->Fail(fail).status();

    FaultInjector faults;
    auto host = StartHost(Mode::kInProcess, handler, {}, {}, &faults);
    faults.InjectNext("Fail", Fault::Fail(injected));
    const absl::Status from_fault = host->Fail(iwtest::FailRequest()).status();
    CHECK(from_fault == from_handler);
    CHECK(from_fault == injected);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("FaultInjector: rules apply to the next N calls, or to every call of a method",
          "[inprocess][faults]") {
  {
    iwtest::TestHandler handler;
    FaultInjector faults;
    auto host = StartHost(Mode::kInProcess, handler, {}, {}, &faults);
    iwtest::EchoRequest echo;
    iwtest::SleepRequest sleep;

    SECTION("the next call, whatever its method") {
      faults.InjectNext(Fault::Fail(absl::AbortedError("once")));
      CHECK_THAT(host->Sleep(sleep).status(), StatusIs(absl::StatusCode::kAborted, "once"));
      CHECK_THAT(host->Echo(echo).status(), IsOk());
    }
    SECTION("the next 3 calls of one method") {
      faults.InjectNext("Echo", Fault::Fail(absl::AbortedError("thrice")), 3);
      CHECK_THAT(host->Sleep(sleep).status(), IsOk());  // other methods: untouched
      for (int i = 0; i < 3; ++i) {
        CHECK_THAT(host->Echo(echo).status(), StatusIs(absl::StatusCode::kAborted, "thrice"));
      }
      CHECK_THAT(host->Echo(echo).status(), IsOk());
    }
    SECTION("every call of a method, until Clear()") {
      faults.InjectAll("/iwtest.TestService/Echo", Fault::Fail(absl::AbortedError("always")));
      for (int i = 0; i < 5; ++i) {
        CHECK_THAT(host->Echo(echo).status(), StatusIs(absl::StatusCode::kAborted, "always"));
      }
      CHECK_THAT(host->Sleep(sleep).status(), IsOk());
      faults.Clear();
      CHECK_THAT(host->Echo(echo).status(), IsOk());
    }
    SECTION("rules are used in the order they were added") {
      faults.InjectNext(Fault::Fail(absl::AbortedError("first")));
      faults.InjectNext(Fault::Fail(absl::AbortedError("second")));
      CHECK_THAT(host->Echo(echo).status(), StatusIs(absl::StatusCode::kAborted, "first"));
      CHECK_THAT(host->Echo(echo).status(), StatusIs(absl::StatusCode::kAborted, "second"));
      CHECK_THAT(host->Echo(echo).status(), IsOk());
    }
    CHECK(faults.calls_seen() >= 2);
    CHECK(host->stats().workers_crashed == 0);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("FaultInjector: a crashed call runs again on a fresh worker under CrashPolicy::kRetry",
          "[inprocess][faults]") {
  {
    iwtest::TestHandler handler;
    FaultInjector faults;
    iwtest::TestServiceMethodConfig methods;
    methods.echo.on_crash = iw::CrashPolicy::kRetry;
    methods.echo.max_attempts = 3;
    auto host = StartHost(Mode::kInProcess, handler, {}, methods, &faults);

    SECTION("one crash: the retry succeeds") {
      faults.InjectNext("Echo", Fault::Crash(SIGSEGV));
      iwtest::EchoRequest echo;
      echo.set_text("survives");
      absl::StatusOr<iwtest::EchoReply> reply = host->Echo(echo);
      REQUIRE_THAT(reply.status(), IsOk());
      CHECK(reply->text() == "survives");
      CHECK(host->stats().workers_crashed == 1);
    }
    SECTION("a crash on every attempt: the last one's story, with the attempt count") {
      faults.InjectAll("Echo", Fault::Exit(9));
      CHECK_THAT(host->Echo(iwtest::EchoRequest()).status(),
                 StatusIs(absl::StatusCode::kUnavailable, "crashed: exit code 9 (attempt 3 of 3)"));
      CHECK(host->stats().workers_crashed == 3);
    }
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("FaultInjector: with RespawnPolicy::kNever a simulated crash leaves the host crashed",
          "[inprocess][faults]") {
  {
    iwtest::TestHandler handler;
    FaultInjector faults;
    iw::WorkerOptions options;
    options.respawn = iw::RespawnPolicy::kNever;
    auto host = StartHost(Mode::kInProcess, handler, options, {}, &faults);
    faults.CrashNow(SIGABRT);
    absl::Status later;
    for (int i = 0; i < 200; ++i) {
      later = host->Echo(iwtest::EchoRequest()).status();
      if (absl::StrContains(later.message(), "RespawnPolicy::kNever")) break;
      absl::SleepFor(absl::Milliseconds(5));
    }
    CHECK(host->state() == iw::WorkerState::kCrashed);
    CHECK_FALSE(host->IsActive());
    CHECK_THAT(later, StatusIs(absl::StatusCode::kUnavailable,
                               "crashed: killed by signal SIGABRT (Aborted)"));
    CHECK_THAT(later, StatusIs(absl::StatusCode::kUnavailable, "RespawnPolicy::kNever"));
    // The dead worker is closed (and detached) by the supervisor.
    for (int i = 0; i < 400 && faults.workers() != 0; ++i) absl::SleepFor(absl::Milliseconds(5));
    CHECK(faults.workers() == 0);
    CHECK_THAT(host->Close(), IsOk());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("FaultInjector: a dropped connection fails calls with UNAVAILABLE; the worker stays",
          "[inprocess][faults]") {
  {
    iwtest::TestHandler handler;
    FaultInjector faults;
    auto host = StartHost(Mode::kInProcess, handler, {}, {}, &faults);
    const std::string id = host->worker_id();
    const std::string expected =
        absl::StrCat("connection to worker ", id, " failed: Socket closed");

    SECTION("while a call is in flight") {
      faults.InjectNext("Echo", Fault::DropConnection().After(absl::Milliseconds(50)));
      CHECK_THAT(host->Echo(iwtest::EchoRequest()).status(),
                 StatusIs(absl::StatusCode::kUnavailable,
                          absl::StrCat("iwtest.TestService.Echo: ", expected)));
    }
    SECTION("now") { faults.DropConnectionNow(); }
    // Later calls fail the same way; the worker did not crash.
    CHECK_THAT(host->Sleep(iwtest::SleepRequest()).status(),
               StatusIs(absl::StatusCode::kUnavailable,
                        absl::StrCat("iwtest.TestService.Sleep: ", expected)));
    CHECK(host->state() == iw::WorkerState::kReady);
    CHECK(host->worker_id() == id);
    CHECK(host->stats().workers_crashed == 0);
    CHECK_THAT(host->Close(), IsOk());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("FaultInjector: the replacement worker is attached to the injector too",
          "[inprocess][faults]") {
  {
    iwtest::TestHandler handler;
    FaultInjector faults;
    auto host = StartHost(Mode::kInProcess, handler, {}, {}, &faults);
    CHECK(faults.workers() == 1);
    faults.CrashNow();
    CHECK_THAT(host->Echo(iwtest::EchoRequest()).status(), IsOk());
    REQUIRE(faults.WaitForWorkers(1, absl::Seconds(5)));
    faults.CrashNow(SIGBUS);
    CHECK_THAT(host->Echo(iwtest::EchoRequest()).status(), IsOk());
    CHECK(host->stats().workers_crashed == 2);
    CHECK_THAT(host->Close(), IsOk());
    CHECK(faults.workers() == 0);
  }
  CHECK(NoChildProcesses());
}

}  // namespace
