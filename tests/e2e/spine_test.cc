// End-to-end: generated host stub → real worker process → generated handler.
//
// The basic cases (typed round trip, 1,000 calls from 8 threads, 1,000 async
// calls, deadlines naming method and bound, per-method config, cancellation,
// handler errors) run against a spawned worker AND in-process from the same
// test code: tests/inprocess/dual_mode_test.cc. This file has what only a
// real process can show.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "catch2/catch.hpp"
#include "tests/e2e/e2e_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/workers/test_service.iw.h"

namespace {

using iw::testing::IsOk;
using iw::testing::NoChildProcesses;
using iw::testing::SpawnOrDie;
using iw::testing::StatusIs;
using iw::testing::TestWorkerOptions;
using iwtest::TestServiceHost;

// gRPC sends a deadline as "time remaining", which the worker adds to the
// moment it receives the call: the worker's deadline is later than the host's
// by the transit time.
constexpr int64_t kTransitSlackMs = 100;

TEST_CASE("Host: the worker's handler sees the call's deadline", "[e2e]") {
  {
    auto host = SpawnOrDie();
    iw::CallOptions options;
    options.timeout = absl::Seconds(4);
    absl::StatusOr<iwtest::SleepReply> reply = host->Sleep(iwtest::SleepRequest(), options);
    REQUIRE_THAT(reply.status(), IsOk());
    CHECK(reply->deadline_left_ms() > 0);
    CHECK(reply->deadline_left_ms() <= 4000 + kTransitSlackMs);
    CHECK_FALSE(reply->saw_cancelled());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Host: a worker crash fails the call with UNAVAILABLE; the next call gets a fresh worker",
          "[e2e]") {
  {
    absl::Mutex mu;
    std::vector<std::pair<iw::WorkerState, std::string>> events;
    iw::WorkerOptions options = TestWorkerOptions();
    options.stderr_mode = iw::OutputMode::kDiscard;  // still kept for the report
    options.on_state_change = [&](iw::WorkerState state, const std::string& id) {
      absl::MutexLock lock(&mu);
      events.emplace_back(state, id);
    };
    auto host = SpawnOrDie(options);
    const int first_pid = host->pid();
    const std::string first_id = host->worker_id();
    iwtest::CrashRequest crash;
    crash.set_signal(SIGSEGV);
    crash.set_last_words("about to segfault");
    absl::Status status = host->Crash(crash).status();
    CHECK_THAT(status, StatusIs(absl::StatusCode::kUnavailable,
                                "iwtest.TestService.Crash: worker TestService#"));
    CHECK_THAT(status, StatusIs(absl::StatusCode::kUnavailable,
                                "crashed: killed by signal SIGSEGV (Segmentation fault)"));
    CHECK_THAT(status,
               StatusIs(absl::StatusCode::kUnavailable, "last stderr lines:\n  about to segfault"));
    // The next call waits for the replacement worker and succeeds there.
    absl::StatusOr<iwtest::EchoReply> reply = host->Echo(iwtest::EchoRequest());
    REQUIRE_THAT(reply.status(), IsOk());
    CHECK(reply->pid() != first_pid);
    CHECK(host->pid() == reply->pid());
    iw::PoolStats stats = host->stats();
    CHECK(stats.workers_crashed == 1);
    CHECK(stats.workers_spawned == 2);
    CHECK(stats.calls_completed == 1);
    CHECK(stats.calls_failed == 1);
    CHECK_THAT(host->Close(), IsOk());
    absl::MutexLock lock(&mu);
    bool saw_crash = false;
    for (const auto& [state, id] : events) {
      if (state == iw::WorkerState::kCrashed && id == first_id) saw_crash = true;
    }
    CHECK(saw_crash);
    REQUIRE(!events.empty());
    CHECK(events.back().first == iw::WorkerState::kClosed);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Host: with RespawnPolicy::kNever a crashed host fails every call fast", "[e2e]") {
  {
    iw::WorkerOptions options = TestWorkerOptions();
    options.respawn = iw::RespawnPolicy::kNever;
    auto host = SpawnOrDie(options);
    iwtest::CrashRequest crash;
    crash.set_signal(SIGABRT);
    CHECK_THAT(host->Crash(crash).status(),
               StatusIs(absl::StatusCode::kUnavailable, "killed by signal SIGABRT"));
    for (int i = 0; i < 200 && host->state() != iw::WorkerState::kCrashed; ++i) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    CHECK(host->state() == iw::WorkerState::kCrashed);
    CHECK_FALSE(host->IsActive());
    // Later calls fail at once with the same story (give the supervisor a
    // moment to drop the dead worker).
    absl::Status later;
    for (int i = 0; i < 200; ++i) {
      later = host->Echo(iwtest::EchoRequest()).status();
      if (absl::StrContains(later.message(), "RespawnPolicy::kNever")) break;
      absl::SleepFor(absl::Milliseconds(5));
    }
    CHECK_THAT(later, StatusIs(absl::StatusCode::kUnavailable, "SIGABRT"));
    CHECK_THAT(later, StatusIs(absl::StatusCode::kUnavailable, "RespawnPolicy::kNever"));
    // Closing a host whose worker died returns at once.
    CHECK_THAT(host->Close(), IsOk());
    CHECK(host->state() == iw::WorkerState::kClosed);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Host: an exit code is reported when the worker exits mid-call", "[e2e]") {
  {
    auto host = SpawnOrDie();
    iwtest::CrashRequest crash;
    crash.set_exit_code(7);
    CHECK_THAT(host->Crash(crash).status(),
               StatusIs(absl::StatusCode::kUnavailable, "crashed: exit code 7"));
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Host: a 16 MiB round trip, then a prompt graceful close", "[e2e]") {
  {
    auto host = SpawnOrDie();
    iwtest::EchoRequest request;
    request.set_payload(std::string(16 << 20, 'z'));
    absl::StatusOr<iwtest::EchoReply> reply = host->Echo(request);
    REQUIRE_THAT(reply.status(), IsOk());
    CHECK(reply->payload() == request.payload());
    // Graceful: no SIGTERM/SIGKILL escalation needed (that would be
    // DEADLINE_EXCEEDED after 5 s + 2 s).
    iw::CloseOptions close;
    close.grace = absl::Seconds(3);
    CHECK_THAT(host->Close(close), IsOk());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Host: destroying a host closes the worker and leaks no descriptor", "[e2e]") {
  // Warm up gRPC's process-wide descriptors (epoll, wakeup fds) first.
  { SpawnOrDie(); }
  const int fds_before = iw::testing::BaselineFdCount();
  int pid = 0;
  {
    auto host = SpawnOrDie();
    pid = host->pid();
    CHECK(iw::testing::ProcessAlive(pid));
  }
  CHECK_FALSE(iw::testing::ProcessAlive(pid));
  CHECK(NoChildProcesses());
  // Background threads may close the last descriptor just after ~Host.
  CHECK(iw::testing::WaitForFdCount(fds_before) == fds_before);
}

}  // namespace
