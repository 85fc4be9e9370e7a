// Close() from several threads at once, and racing the host's destructor,
// through real worker processes (run under --config=tsan --runs_per_test=20).
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "catch2/catch.hpp"
#include "tests/e2e/e2e_util.h"
#include "tests/testing/carrier.h"
#include "tests/testing/status_matchers.h"
#include "tests/workers/test_service.iw.h"

namespace {

using iw::testing::IsOk;
using iw::testing::NoChildProcesses;
using iw::testing::RunfilePath;
using iw::testing::StatusIs;
using iw::testing::TestWorkerOptions;
using iwtest::TestServiceHost;

constexpr int kClosers = 6;

// A single worker (Spawn) or a pool of two (SpawnPool).
std::unique_ptr<TestServiceHost> SpawnHost(bool pool, iw::WorkerOptions options) {
  absl::StatusOr<std::unique_ptr<TestServiceHost>> host;
  if (pool) {
    iw::PoolOptions pool_options;
    pool_options.min_workers = pool_options.max_workers = 2;
    host = TestServiceHost::SpawnPool(options, pool_options);
  } else {
    host = TestServiceHost::Spawn(options);
  }
  REQUIRE_THAT(host.status(), IsOk());
  return std::move(*host);
}

// Runs host->Close(close) on kClosers threads released at the same moment;
// returns their results.
std::vector<absl::Status> CloseFromManyThreads(TestServiceHost& host,
                                               const iw::CloseOptions& close) {
  std::vector<absl::Status> results(kClosers);
  absl::Notification go;
  std::vector<std::thread> closers;
  for (int i = 0; i < kClosers; ++i) {
    closers.emplace_back([&, i] {
      go.WaitForNotification();
      results[i] = host.Close(close);
    });
  }
  go.Notify();
  for (std::thread& closer : closers) closer.join();
  return results;
}

TEST_CASE("Close: several threads closing a host at once all return, with the same result",
          "[e2e][close]") {
  const bool pool = GENERATE(false, true);
  INFO((pool ? "SpawnPool" : "Spawn"));
  for (int round = 0; round < 3; ++round) {
    {
      auto host = SpawnHost(pool, TestWorkerOptions());
      // A call in flight keeps the close busy for a while (it drains).
      absl::Notification answered;
      iwtest::SleepRequest sleep;
      sleep.set_ms(150);
      iw::CallOptions call;
      call.timeout = absl::Seconds(30);
      host->SleepAsync(
          sleep, [&](absl::StatusOr<iwtest::SleepReply>) { answered.Notify(); }, call);
      for (const absl::Status& result : CloseFromManyThreads(*host, iw::CloseOptions())) {
        CHECK_THAT(result, IsOk());
      }
      CHECK(host->state() == iw::WorkerState::kClosed);
      CHECK(answered.WaitForNotificationWithTimeout(absl::Seconds(10)));
      // Later calls return the same result at once.
      CHECK_THAT(host->Close(), IsOk());
    }
    CHECK(NoChildProcesses());
  }
}

TEST_CASE("Close: concurrent closers of a worker that needs SIGKILL all get its DEADLINE_EXCEEDED",
          "[e2e][close]") {
  const bool pool = GENERATE(false, true);
  INFO((pool ? "SpawnPool" : "Spawn"));
  {
    iw::WorkerOptions options = iw::testing::CarrierOptions();
    options.executable = RunfilePath("tests/workers/stubborn_worker");
    auto host = SpawnHost(pool, options);
    iw::CloseOptions close;
    close.grace = absl::Milliseconds(100);
    close.term_timeout = absl::Milliseconds(100);
    std::vector<absl::Status> results = CloseFromManyThreads(*host, close);
    for (const absl::Status& result : results) {
      CHECK_THAT(result, StatusIs(absl::StatusCode::kDeadlineExceeded, "killed with SIGKILL"));
      CHECK(result == results.front());
    }
    CHECK(host->Close() == results.front());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Close: destroying a host while another thread closes it waits for that close",
          "[e2e][close]") {
  const bool pool = GENERATE(false, true);
  INFO((pool ? "SpawnPool" : "Spawn"));
  for (int round = 0; round < 3; ++round) {
    std::atomic<bool> closing_seen{false};
    absl::Notification closing;
    iw::WorkerOptions options = TestWorkerOptions();
    options.on_state_change = [&](iw::WorkerState state, const std::string&) {
      if (state == iw::WorkerState::kClosing && !closing_seen.exchange(true)) closing.Notify();
    };
    auto host = SpawnHost(pool, options);
    absl::Notification answered;
    iwtest::SleepRequest sleep;
    sleep.set_ms(150);
    iw::CallOptions call;
    call.timeout = absl::Seconds(30);
    host->SleepAsync(
        sleep, [&](absl::StatusOr<iwtest::SleepReply>) { answered.Notify(); }, call);
    absl::Status closed = absl::UnknownError("Close() did not return");
    std::thread closer([&] { closed = host->Close(); });
    // The explicit Close() is under way: destroy the host under it.
    REQUIRE(closing.WaitForNotificationWithTimeout(absl::Seconds(30)));
    host.reset();
    closer.join();
    CHECK_THAT(closed, IsOk());
    CHECK(answered.HasBeenNotified());  // no callback after the destructor returned
    CHECK(NoChildProcesses());
  }
}

}  // namespace
