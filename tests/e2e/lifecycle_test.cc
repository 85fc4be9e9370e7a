// Lifecycle, crashes and shutdown through real worker processes.
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "catch2/catch.hpp"
#include "runtime/logging.h"
#include "runtime/process/subprocess.h"
#include "tests/e2e/e2e_util.h"
#include "tests/testing/carrier.h"
#include "tests/testing/status_matchers.h"
#include "tests/workers/test_service.iw.h"

namespace {

using iw::testing::IsOk;
using iw::testing::NoChildProcesses;
using iw::testing::RunfilePath;
using iw::testing::SpawnOrDie;
using iw::testing::StatusIs;
using iw::testing::TestWorkerOptions;
using iwtest::TestServiceHost;

// A fresh path in the test's temp dir.
std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir ? dir : "/tmp", "/", name, "-", ::getpid(), "-",
                      absl::ToUnixNanos(absl::Now()));
}

TEST_CASE("Lifecycle: a crash fails every call in flight at once, with exit status and stderr",
          "[e2e][lifecycle]") {
  {
    auto host = SpawnOrDie();
    // Fewer than the worker's handler threads (4), so the crash call is
    // not queued behind them.
    constexpr int kSlowCalls = 3;
    absl::Mutex mu;
    std::vector<absl::Status> results;
    absl::Time crashed_at;
    iw::CallOptions long_deadline;
    long_deadline.timeout = absl::Seconds(30);
    for (int i = 0; i < kSlowCalls; ++i) {
      iwtest::SleepRequest sleep;
      sleep.set_ms(20000);
      host->SleepAsync(
          sleep,
          [&](absl::StatusOr<iwtest::SleepReply> reply) {
            absl::MutexLock lock(&mu);
            results.push_back(reply.status());
          },
          long_deadline);
    }
    absl::SleepFor(absl::Milliseconds(100));  // the handlers are running
    iwtest::CrashRequest crash;
    crash.set_exit_code(42);
    crash.set_last_words("fatal: out of widgets");
    crashed_at = absl::Now();
    CHECK_THAT(host->Crash(crash).status(),
               StatusIs(absl::StatusCode::kUnavailable, "crashed: exit code 42"));
    absl::MutexLock lock(&mu);
    auto all = [&] { return results.size() == kSlowCalls; };
    REQUIRE(mu.AwaitWithTimeout(absl::Condition(&all), absl::Seconds(10)));
    // Not at their 30 s deadline: right after the crash.
    CHECK(absl::Now() - crashed_at < absl::Seconds(5));
    for (const absl::Status& status : results) {
      CHECK_THAT(status, StatusIs(absl::StatusCode::kUnavailable,
                                  "iwtest.TestService.Sleep: worker TestService#"));
      CHECK_THAT(status, StatusIs(absl::StatusCode::kUnavailable, "crashed: exit code 42"));
      CHECK_THAT(status, StatusIs(absl::StatusCode::kUnavailable, "fatal: out of widgets"));
    }
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Lifecycle: the retry policy runs a crashed call again on a fresh worker",
          "[e2e][lifecycle]") {
  iwtest::TestServiceMethodConfig methods;
  methods.crash.on_crash = iw::CrashPolicy::kRetry;
  methods.crash.max_attempts = 3;
  iw::WorkerOptions options = TestWorkerOptions();
  options.stderr_mode = iw::OutputMode::kDiscard;

  SECTION("a call that crashes once succeeds on its second attempt") {
    auto host = SpawnOrDie(options, methods);
    iwtest::CrashRequest crash;
    crash.set_exit_code(3);
    crash.set_crash_once_marker(TempPath("crash-once"));
    CHECK_THAT(host->Crash(crash).status(), IsOk());
    iw::PoolStats stats = host->stats();
    CHECK(stats.workers_crashed == 1);  // exactly one failed attempt
    CHECK(stats.workers_spawned == 2);
    CHECK(stats.calls_completed == 1);
    CHECK(stats.calls_failed == 0);
  }
  SECTION("a call that always crashes fails after max_attempts attempts in total") {
    auto host = SpawnOrDie(options, methods);
    iwtest::CrashRequest crash;
    crash.set_exit_code(9);
    CHECK_THAT(host->Crash(crash).status(),
               StatusIs(absl::StatusCode::kUnavailable, "exit code 9 (attempt 3 of 3)"));
    iw::PoolStats stats = host->stats();
    CHECK(stats.workers_crashed == 3);
    CHECK(stats.calls_failed == 1);
    // The host is still usable.
    CHECK_THAT(host->Echo(iwtest::EchoRequest()).status(), IsOk());
  }
  SECTION("async calls are retried the same way") {
    auto host = SpawnOrDie(options, methods);
    iwtest::CrashRequest crash;
    crash.set_exit_code(3);
    crash.set_crash_once_marker(TempPath("crash-once-async"));
    absl::Notification done;
    absl::Status result;
    host->CrashAsync(crash, [&](absl::StatusOr<iwtest::CrashReply> reply) {
      result = reply.status();
      done.Notify();
    });
    REQUIRE(done.WaitForNotificationWithTimeout(absl::Seconds(20)));
    CHECK_THAT(result, IsOk());
    CHECK(host->stats().workers_crashed == 1);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Lifecycle: a call made while the worker is being replaced waits for it",
          "[e2e][lifecycle]") {
  {
    auto host = SpawnOrDie();
    int old_pid = host->pid();
    REQUIRE(::kill(old_pid, SIGKILL) == 0);
    // Right away, while the host is noticing and respawning.
    absl::StatusOr<iwtest::EchoReply> reply;
    for (int i = 0; i < 50; ++i) {
      reply = host->Echo(iwtest::EchoRequest());
      // A call that raced with the death itself fails like any in-flight
      // call; the ones after it wait for the new worker.
      if (reply.ok()) break;
      CHECK_THAT(reply.status(), StatusIs(absl::StatusCode::kUnavailable, "SIGKILL"));
    }
    REQUIRE_THAT(reply.status(), IsOk());
    CHECK(reply->pid() != old_pid);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Lifecycle: a failed respawn fails the waiting calls with the spawn error",
          "[e2e][lifecycle]") {
  {
    // Run the worker from a copy we can delete.
    std::string copy = TempPath("worker-copy");
    {
      std::string cmd = absl::StrCat("cp ", iw::testing::TestWorkerPath(), " ", copy);
      REQUIRE(std::system(cmd.c_str()) == 0);
    }
    iw::WorkerOptions options = iw::testing::CarrierOptions();
    options.executable = copy;
    auto host = SpawnOrDie(options);
    REQUIRE(::unlink(copy.c_str()) == 0);
    iwtest::CrashRequest crash;
    crash.set_exit_code(1);
    CHECK_THAT(host->Crash(crash).status(), StatusIs(absl::StatusCode::kUnavailable));
    absl::Status next = host->Echo(iwtest::EchoRequest()).status();
    CHECK_THAT(next,
               StatusIs(absl::StatusCode::kNotFound,
                        "iwtest.TestService.Echo: spawn worker for iwtest.TestService: exec " +
                            copy + ": No such file or directory"));
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Lifecycle: a worker ignoring shutdown and SIGTERM is SIGKILLed within the bounds",
          "[e2e][lifecycle]") {
  {
    iw::WorkerOptions options = iw::testing::CarrierOptions();
    options.executable = RunfilePath("tests/workers/stubborn_worker");
    auto host = SpawnOrDie(options);
    iw::CloseOptions close;
    close.grace = absl::Milliseconds(200);
    close.term_timeout = absl::Milliseconds(200);
    absl::Time start = absl::Now();
    CHECK_THAT(host->Close(close),
               StatusIs(absl::StatusCode::kDeadlineExceeded, "killed with SIGKILL"));
    CHECK(absl::Now() - start < absl::Seconds(3));
    CHECK(host->state() == iw::WorkerState::kClosed);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Lifecycle: states are observable from spawn to close", "[e2e][lifecycle]") {
  absl::Mutex mu;
  std::vector<iw::WorkerState> states;
  {
    iw::WorkerOptions options = TestWorkerOptions();
    options.on_state_change = [&](iw::WorkerState state, const std::string&) {
      absl::MutexLock lock(&mu);
      states.push_back(state);
    };
    auto host = SpawnOrDie(options);
    CHECK(host->IsActive());
    CHECK_THAT(host->Close(), IsOk());
    CHECK_FALSE(host->IsActive());
    CHECK_THAT(host->Echo(iwtest::EchoRequest()).status(),
               StatusIs(absl::StatusCode::kFailedPrecondition, "is closed"));
  }
  absl::MutexLock lock(&mu);
  CHECK(states == std::vector<iw::WorkerState>{iw::WorkerState::kReady, iw::WorkerState::kClosing,
                                               iw::WorkerState::kClosed});
  CHECK(NoChildProcesses());
}

TEST_CASE("Lifecycle: captured worker output reaches the log sink, tagged with the worker",
          "[e2e][lifecycle]") {
  absl::Mutex mu;
  std::vector<iw::LogRecord> records;
  iw::SetLogSink(
      [&](const iw::LogRecord& record) {
        absl::MutexLock lock(&mu);
        records.push_back(record);
      },
      iw::LogLevel::kInfo);
  {
    iw::WorkerOptions options = TestWorkerOptions();
    options.stderr_mode = iw::OutputMode::kCapture;
    options.respawn = iw::RespawnPolicy::kNever;
    auto host = SpawnOrDie(options);
    iwtest::CrashRequest crash;
    crash.set_exit_code(5);
    crash.set_last_words("captured line");
    CHECK_THAT(host->Crash(crash).status(), StatusIs(absl::StatusCode::kUnavailable));
    host->Close().IgnoreError();
  }
  iw::SetLogSink(nullptr);
  absl::MutexLock lock(&mu);
  bool captured = false, crash_logged = false;
  for (const iw::LogRecord& record : records) {
    if (record.message == "stderr: captured line" && record.level == iw::LogLevel::kInfo &&
        absl::StrContains(record.worker_id, "TestService#")) {
      captured = true;
    }
    if (record.level == iw::LogLevel::kError &&
        absl::StrContains(record.message, "crashed: exit code 5")) {
      crash_logged = true;
    }
  }
  CHECK(captured);
  CHECK(crash_logged);
  CHECK(NoChildProcesses());
}

// The pids of our children (from /proc/self/task/*/children).
std::vector<pid_t> ChildPids() {
  std::vector<pid_t> pids;
  DIR* tasks = ::opendir("/proc/self/task");
  if (tasks == nullptr) return pids;
  while (struct dirent* task = ::readdir(tasks)) {
    if (task->d_name[0] == '.') continue;
    std::ifstream children(absl::StrCat("/proc/self/task/", task->d_name, "/children"));
    pid_t pid;
    while (children >> pid) pids.push_back(pid);
  }
  ::closedir(tasks);
  return pids;
}

// Starts tests/workers/orphan_host with `extra` arguments, SIGKILLs it once it
// has printed its worker's pid, and returns whether the worker — and every
// other process of the host, such as its fork server — was gone (reaped by
// us) within 1 s. Leaves no process behind either way.
bool WorkerGoneAfterHostKilled(const std::vector<std::string>& extra) {
  // Orphans are re-parented to us, so we can check on (and reap) the worker.
  REQUIRE(::prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  int out[2];
  REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
  iw::internal::SpawnSpec spec;
  spec.executable = RunfilePath("tests/workers/orphan_host");
  spec.argv = {spec.executable, iw::testing::TestWorkerPath()};
  spec.argv.insert(spec.argv.end(), extra.begin(), extra.end());
  spec.env = iw::testing::CurrentEnvironment();
  spec.stdout_fd = out[1];
  auto host = iw::internal::Subprocess::Start(spec);
  ::close(out[1]);
  REQUIRE(host.ok());
  char buffer[32] = {};
  ssize_t n = 0;
  {
    // Bounded read of the worker's pid.
    struct pollfd pfd = {out[0], POLLIN, 0};
    REQUIRE(::poll(&pfd, 1, 30000) == 1);
    n = ::read(out[0], buffer, sizeof(buffer) - 1);
  }
  ::close(out[0]);
  int worker_pid = 0;
  REQUIRE(n > 0);
  REQUIRE(absl::SimpleAtoi(absl::StripAsciiWhitespace(buffer), &worker_pid));
  REQUIRE(iw::testing::ProcessAlive(worker_pid));

  (*host)->Signal(SIGKILL);
  REQUIRE((*host)->Wait(absl::Now() + absl::Seconds(5)).has_value());
  // The worker noticed (its control channel closed) and exits; reap it.
  absl::Time deadline = absl::Now() + absl::Seconds(1) * iw::testing::kSanitizerSlowdown;
  bool gone = false;
  while (absl::Now() < deadline && !gone) {
    int status;
    gone = ::waitpid(worker_pid, &status, WNOHANG) == worker_pid;
    if (!gone) absl::SleepFor(absl::Milliseconds(5));
  }
  if (!gone) {
    ::kill(worker_pid, SIGKILL);
    ::waitpid(worker_pid, nullptr, 0);
  }
  // Every other orphan of the host too (its fork server, with
  // StartMode::kForkServer), by the same deadline.
  while (true) {
    pid_t other = ::waitpid(-1, nullptr, WNOHANG);
    if (other < 0) break;  // ECHILD: none left
    if (other > 0) continue;
    if (absl::Now() >= deadline) {
      gone = false;
      for (pid_t child : ChildPids()) {
        UNSCOPED_INFO("process " << child << " of the killed host outlived it");
        ::kill(child, SIGKILL);
      }
      ::waitpid(-1, nullptr, 0);
      continue;
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  host->reset();
  return gone;
}

TEST_CASE("Lifecycle: when the host is SIGKILLed its worker exits promptly", "[e2e][lifecycle]") {
  CHECK(WorkerGoneAfterHostKilled({}));
  CHECK(NoChildProcesses());
}

TEST_CASE(
    "Lifecycle: when the host is SIGKILLed its worker exits promptly even while a handler "
    "ignores cancellation, 20 times out of 20",
    "[e2e][lifecycle]") {
  constexpr int kTrials = 20;
  int clean = 0;
  for (int trial = 0; trial < kTrials; ++trial) {
    const std::string marker = TempPath(absl::StrCat("stuck-", trial));
    if (WorkerGoneAfterHostKilled({"--stuck", marker})) ++clean;
    ::unlink(marker.c_str());
    ::unlink((marker + ".2").c_str());
  }
  CHECK(clean == kTrials);
  CHECK(NoChildProcesses());
}

TEST_CASE(
    "Lifecycle: Close() with a handler that ignores cancellation returns OK once the worker "
    "has ended itself after the grace period, without SIGTERM or SIGKILL",
    "[e2e][lifecycle]") {
  absl::Mutex mu;
  std::vector<std::string> warnings;
  iw::SetLogSink(
      [&](const iw::LogRecord& record) {
        absl::MutexLock lock(&mu);
        warnings.push_back(record.message);
      },
      iw::LogLevel::kWarning);
  const std::string marker = TempPath("stuck-close");
  {
    auto host = SpawnOrDie();
    iwtest::SleepRequest stuck;
    stuck.set_ms(60000);
    stuck.set_stop_when_cancelled(false);
    stuck.set_started_marker(marker);
    iw::CallOptions long_call;
    long_call.timeout = absl::Seconds(120);
    absl::Notification answered;
    absl::Status call_status;
    host->SleepAsync(
        stuck,
        [&](absl::StatusOr<iwtest::SleepReply> reply) {
          call_status = reply.status();
          answered.Notify();
        },
        long_call);
    const absl::Time give_up = absl::Now() + absl::Seconds(30);
    while (::access(marker.c_str(), F_OK) != 0 && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(2));
    }
    REQUIRE(::access(marker.c_str(), F_OK) == 0);  // the handler is running

    iw::CloseOptions close;
    close.grace = absl::Milliseconds(300);
    close.term_timeout = absl::Seconds(20);  // far above what the worker needs
    const absl::Time start = absl::Now();
    CHECK_THAT(host->Close(close), IsOk());
    CHECK(absl::Now() - start < absl::Seconds(10));
    REQUIRE(answered.WaitForNotificationWithTimeout(absl::Seconds(10)));
    CHECK_FALSE(call_status.ok());
  }
  iw::SetLogSink(nullptr);
  ::unlink(marker.c_str());
  absl::MutexLock lock(&mu);
  for (const std::string& warning : warnings) {
    INFO(warning);
    CHECK_FALSE(absl::StrContains(warning, "SIGTERM"));
    CHECK_FALSE(absl::StrContains(warning, "SIGKILL"));
  }
  CHECK(NoChildProcesses());
}

}  // namespace
