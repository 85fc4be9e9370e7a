// Fault tolerance of the pool supervisor through real worker processes:
// per-seat crash loops and parallel respawns under repeated kills, queued
// calls that survive a failed replacement, no call routed to a condemned
// worker, recycling, typed crash errors, and a chaos run.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "catch2/catch.hpp"
#include "runtime/worker_crash.h"
#include "tests/e2e/e2e_util.h"
#include "tests/testing/carrier.h"
#include "tests/testing/status_matchers.h"
#include "tests/workers/test_service.iw.h"

namespace {

using iw::testing::IsOk;
using iw::testing::kSanitizerSlowdown;
using iw::testing::NoChildProcesses;
using iw::testing::RunfilePath;
using iw::testing::StatusIs;
using iw::testing::TestWorkerOptions;
using iwtest::TestServiceHost;

std::unique_ptr<TestServiceHost> SpawnPoolOrDie(
    iw::WorkerOptions options, const iw::PoolOptions& pool,
    const iwtest::TestServiceMethodConfig& methods = {}) {
  options.stderr_mode = iw::OutputMode::kDiscard;
  auto host = TestServiceHost::SpawnPool(std::move(options), pool, methods);
  REQUIRE_THAT(host.status(), IsOk());
  return std::move(*host);
}

iw::CallOptions Within(absl::Duration timeout) {
  iw::CallOptions options;
  options.timeout = timeout;
  return options;
}

iwtest::SleepRequest SleepFor(int64_t ms, int64_t tag = 0) {
  iwtest::SleepRequest request;
  request.set_ms(ms);
  request.set_tag(tag);
  return request;
}

// Polls `condition` every few ms until it holds or `timeout` passes.
template <class F>
bool WaitUntil(F condition, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

// The pids of this process's live worker processes, from /proc/<pid>/stat:
// its children, and the children of its children (workers forked by a fork
// server, StartMode::kForkServer; the server itself serves no call, so the
// tests' "served a reply" filter leaves it out).
std::set<int> LiveChildren() {
  std::map<int, int> parent_of;  // live processes only
  DIR* proc = ::opendir("/proc");
  if (proc == nullptr) return {};
  while (struct dirent* entry = ::readdir(proc)) {
    int pid = 0;
    if (!absl::SimpleAtoi(entry->d_name, &pid)) continue;
    std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
    std::string line;
    if (!std::getline(stat, line)) continue;
    // "pid (comm) state ppid ...": comm may hold spaces, so parse after ')'.
    size_t close = line.rfind(')');
    if (close == std::string::npos) continue;
    std::vector<std::string> fields = absl::StrSplit(line.substr(close + 2), ' ');
    int ppid = 0;
    if (fields.size() < 2 || !absl::SimpleAtoi(fields[1], &ppid)) continue;
    if (fields[0] != "Z") parent_of[pid] = ppid;
  }
  ::closedir(proc);
  const int self = ::getpid();
  std::set<int> children;
  for (const auto& [pid, ppid] : parent_of) {
    if (ppid == self) children.insert(pid);
  }
  std::set<int> descendants = children;
  for (const auto& [pid, ppid] : parent_of) {
    if (children.count(ppid)) descendants.insert(pid);
  }
  return descendants;
}

// A fresh empty directory in the test's temp dir.
std::string TempDir(const std::string& name) {
  const char* base = std::getenv("TEST_TMPDIR");
  std::string path = absl::StrCat(base ? base : "/tmp", "/", name, "-", ::getpid(), "-",
                                  absl::ToUnixNanos(absl::Now()));
  REQUIRE(::mkdir(path.c_str(), 0700) == 0);
  return path;
}

void AddFile(const std::string& dir, const std::string& name) {
  int fd = ::open(absl::StrCat(dir, "/", name).c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
  REQUIRE(fd >= 0);
  ::close(fd);
}

// Collects async results.
struct Results {
  absl::Mutex mu;
  std::vector<absl::StatusOr<iwtest::SleepReply>> replies;
  auto Callback() {
    return [this](absl::StatusOr<iwtest::SleepReply> reply) {
      absl::MutexLock lock(&mu);
      replies.push_back(std::move(reply));
    };
  }
  bool WaitFor(size_t n, absl::Duration timeout) {
    absl::MutexLock lock(&mu);
    auto done = [&] { return replies.size() >= n; };
    return mu.AwaitWithTimeout(absl::Condition(&done), timeout);
  }
};

TEST_CASE(
    "Supervisor: workers that served and are killed from outside are replaced at once, "
    "in parallel, with no crash-loop backoff",
    "[e2e][pool][fault]") {
  {
    iw::PoolOptions pool;
    pool.min_workers = pool.max_workers = 3;
    pool.max_calls_per_worker = 1;
    auto host = SpawnPoolOrDie(TestWorkerOptions(), pool);
    constexpr int kRounds = 6;
    for (int round = 0; round < kRounds; ++round) {
      INFO("round " << round);
      REQUIRE(WaitUntil([&] { return host->stats().workers == 3; },
                        absl::Seconds(10) * kSanitizerSlowdown));
      // One call on each worker (one call per worker at a time), so each has
      // served before it dies: young, but not a crash loop.
      // Long enough that none ends before the three are issued.
      Results results;
      for (int i = 0; i < 3; ++i) {
        host->SleepAsync(SleepFor(500, i), results.Callback(), Within(absl::Seconds(30)));
      }
      REQUIRE(results.WaitFor(3, absl::Seconds(30)));
      std::set<int> pids;
      for (const auto& reply : results.replies) {
        REQUIRE_THAT(reply.status(), IsOk());
        pids.insert(reply->pid());
      }
      REQUIRE(pids.size() == 3);
      for (int pid : pids) REQUIRE(::kill(pid, SIGKILL) == 0);
      // The pool has noticed the three deaths...
      REQUIRE(WaitUntil([&] { return host->stats().workers_crashed == 3 * (round + 1); },
                        absl::Seconds(10) * kSanitizerSlowdown));
      // ... and replaced all three. Before per-seat crash loops, every round (workers under 1 s
      // old) doubled a pool-wide backoff (100 ms, 200 ms, ... 3.2 s) and the three replacements
      // started one after another.
      //
      // This used to also CHECK that the three were back within 900 ms of the kills. That was a
      // bound on the speed of three parallel spawns, not on the supervisor: on a loaded machine
      // (2 cores, other test actions building) they took 0.9-1.2 s with no backoff at all, and
      // the test failed. No wall-clock bound can tell a backoff of a few hundred ms from a slow
      // spawn, so "no backoff" and "in parallel" are checked without one in
      // tests/runtime/supervisor_test.cc ("workers that served and die are replaced at once, in
      // parallel, however often it happens": an hour-long backoff, and starts held until all
      // three are under way). Here: real processes killed from outside are noticed, counted as
      // crashes and replaced, round after round, and no call fails.
      REQUIRE(WaitUntil([&] { return host->stats().workers == 3; },
                        absl::Seconds(10) * kSanitizerSlowdown));
    }
    iw::PoolStats stats = host->stats();
    CHECK(stats.workers_crashed == 3 * kRounds);
    CHECK(stats.workers_spawned == 3 + 3 * kRounds);
    CHECK(stats.calls_failed == 0);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE(
    "Supervisor: a worker that keeps dying before it is ready still backs off and fails "
    "calls fast",
    "[e2e][pool][fault]") {
  {
    const std::string failures = TempDir("fail-starts");
    iw::WorkerOptions options = iw::testing::CarrierOptions();
    options.executable = RunfilePath("tests/workers/flaky_start_worker");
    options.env["IW_TEST_FAIL_START_DIR"] = failures;
    auto host = SpawnPoolOrDie(options, iw::PoolOptions());
    for (int i = 0; i < 50; ++i) AddFile(failures, absl::StrCat("f", i));  // every start fails
    const int old_pid = host->pid();
    REQUIRE(::kill(old_pid, SIGKILL) == 0);
    // After three failed starts in a row, with no worker up, calls fail at
    // once with the spawn error and its typed payload.
    absl::Status status;
    REQUIRE(WaitUntil(
        [&] {
          status = host->Echo(iwtest::EchoRequest(), Within(absl::Seconds(20))).status();
          return absl::StrContains(status.message(), "exited before it was ready");
        },
        absl::Seconds(20) * kSanitizerSlowdown));
    CHECK_THAT(status, StatusIs(absl::StatusCode::kUnavailable,
                                "iwtest.TestService.Echo: spawn worker TestService#"));
    CHECK_THAT(status, StatusIs(absl::StatusCode::kUnavailable, "failing this start on purpose"));
    std::optional<iw::WorkerCrash> crash = iw::WorkerCrashOf(status);
    REQUIRE(crash.has_value());
    CHECK(crash->cause() == iw::WorkerCrash::SPAWN_FAILURE);
    CHECK(crash->exit_code() == 3);
    CHECK(crash->method() == "iwtest.TestService.Echo");
    // The seat backs off: far fewer starts than a tight loop would make.
    absl::SleepFor(absl::Milliseconds(500));
    DIR* dir = ::opendir(failures.c_str());
    int left = 0;
    while (struct dirent* entry = ::readdir(dir)) left += entry->d_name[0] == 'f' ? 1 : 0;
    ::closedir(dir);
    CHECK(left >= 50 - 8);
    // Once starts work again, so does the pool.
    for (int i = 0; i < 50; ++i) ::unlink(absl::StrCat(failures, "/f", i).c_str());
    CHECK(WaitUntil([&] { return host->Echo(iwtest::EchoRequest()).ok(); },
                    absl::Seconds(15) * kSanitizerSlowdown));
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Supervisor: queued calls survive a replacement that dies before it is ready",
          "[e2e][pool][fault]") {
  {
    const std::string failures = TempDir("fail-one-start");
    iw::WorkerOptions options = iw::testing::CarrierOptions();
    options.executable = RunfilePath("tests/workers/flaky_start_worker");
    options.env["IW_TEST_FAIL_START_DIR"] = failures;
    iw::PoolOptions pool;
    pool.max_calls_per_worker = 1;  // the rest queue in the pool
    iwtest::TestServiceMethodConfig methods;
    methods.sleep.on_crash = iw::CrashPolicy::kRetry;
    auto host = SpawnPoolOrDie(options, pool, methods);
    AddFile(failures, "once");  // the next start fails
    Results results;
    constexpr int kCalls = 10;
    // The first call holds the one worker until `release` exists; the rest
    // queue behind it. (They all used to sleep 20 ms: the 9 queued calls
    // were there only while the first one ran, a 20 ms window that a polling
    // test thread descheduled on a loaded machine could miss, after which
    // calls_queued never read 9 again and the wait below failed.)
    const std::string release = absl::StrCat(failures, "-release");
    iwtest::SleepRequest first = SleepFor(20000, 0);
    first.set_until_exists(release);
    host->SleepAsync(first, results.Callback(), Within(absl::Seconds(30)));
    for (int i = 1; i < kCalls; ++i) {
      host->SleepAsync(SleepFor(20, i), results.Callback(), Within(absl::Seconds(30)));
    }
    REQUIRE(WaitUntil([&] { return host->stats().calls_queued == kCalls - 1; }, absl::Seconds(10)));
    const int killed = host->pid();
    REQUIRE(::kill(killed, SIGKILL) == 0);
    // The first call, retried on the replacement, ends at once there. (Not
    // in `failures`: the worker would take it for a start to fail.)
    const int fd = ::open(release.c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    ::close(fd);
    REQUIRE(results.WaitFor(kCalls, absl::Seconds(30)));
    // Before: every queued call failed with "exited before it was ready".
    for (const auto& reply : results.replies) {
      REQUIRE_THAT(reply.status(), IsOk());
      CHECK(reply->pid() != killed);  // all ten were waiting when it died
    }
    iw::PoolStats stats = host->stats();
    CHECK(stats.calls_completed == kCalls);
    CHECK(stats.calls_failed == 0);
    CHECK(stats.workers_spawned == 2);  // the failed start does not count
    CHECK(::access(absl::StrCat(failures, "/once").c_str(), F_OK) != 0);  // it was used
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Supervisor: no call is routed to a worker condemned by DEADLINE_REPLACE_WORKER",
          "[e2e][pool][fault]") {
  {
    iwtest::TestServiceMethodConfig methods;
    methods.sleep.on_deadline = iw::DeadlinePolicy::kReplaceWorker;
    methods.sleep.deadline_grace = absl::Seconds(3);
    auto host = SpawnPoolOrDie(TestWorkerOptions(), iw::PoolOptions(), methods);
    const int condemned = host->pid();
    // Its handler ignores cancellation and overruns: the worker will exit
    // 3 s after the deadline.
    CHECK_THAT(host->Sleep(SleepFor(20000), Within(absl::Milliseconds(100))).status(),
               StatusIs(absl::StatusCode::kDeadlineExceeded));
    // Before: these went to the condemned worker (and failed when it
    // exited under them).
    for (int i = 0; i < 10; ++i) {
      absl::StatusOr<iwtest::EchoReply> reply =
          host->Echo(iwtest::EchoRequest(), Within(absl::Seconds(20)));
      REQUIRE_THAT(reply.status(), IsOk());
      CHECK(reply->pid() != condemned);
    }
    CHECK(WaitUntil([&] { return !iw::testing::ProcessAlive(condemned); },
                    absl::Seconds(10) * kSanitizerSlowdown));
    CHECK(host->stats().calls_failed == 1);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Recycling: a worker is replaced after N calls, with no failed call and no crash",
          "[e2e][pool][recycle]") {
  {
    iw::PoolOptions pool;
    pool.recycle_after_calls = 5;
    auto host = SpawnPoolOrDie(TestWorkerOptions(), pool);
    const int first = host->pid();
    // Calls go to the first worker until it has served 5, and until its
    // replacement is ready; then to the replacement.
    int served_by_first = 0;
    REQUIRE(WaitUntil(
        [&] {
          absl::StatusOr<iwtest::EchoReply> next = host->Echo(iwtest::EchoRequest());
          REQUIRE_THAT(next.status(), IsOk());
          if (next->pid() != first) return true;
          ++served_by_first;
          return false;
        },
        absl::Seconds(10) * kSanitizerSlowdown));
    CHECK(served_by_first >= 5);
    CHECK(WaitUntil([&] { return !iw::testing::ProcessAlive(first); }, absl::Seconds(10)));
    iw::PoolStats stats = host->stats();
    CHECK(stats.workers_recycled >= 1);
    CHECK(stats.workers_crashed == 0);
    CHECK(stats.calls_failed == 0);
    CHECK(stats.workers == 1);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Recycling: calls in flight across recycles all succeed", "[e2e][pool][recycle]") {
  {
    iw::PoolOptions pool;
    pool.min_workers = pool.max_workers = 2;
    pool.max_calls_per_worker = 2;
    pool.recycle_after_calls = 10;
    auto host = SpawnPoolOrDie(TestWorkerOptions(), pool);
    Results results;
    constexpr int kCalls = 60;
    for (int i = 0; i < kCalls; ++i) {
      host->SleepAsync(SleepFor(5, i), results.Callback(), Within(absl::Seconds(60)));
    }
    REQUIRE(results.WaitFor(kCalls, absl::Seconds(60)));
    for (const auto& reply : results.replies) CHECK_THAT(reply.status(), IsOk());
    iw::PoolStats stats = host->stats();
    CHECK(stats.workers_recycled >= 1);  // 60 calls on 2 workers: one reached 10
    CHECK(stats.workers_crashed == 0);
    CHECK(stats.calls_failed == 0);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Recycling: a handler can ask for its worker to be replaced", "[e2e][pool][recycle]") {
  {
    auto host = SpawnPoolOrDie(TestWorkerOptions(), iw::PoolOptions());
    const int first = host->pid();
    iwtest::EchoRequest recycle;
    recycle.set_request_recycle(true);
    absl::StatusOr<iwtest::EchoReply> reply = host->Echo(recycle);
    REQUIRE_THAT(reply.status(), IsOk());
    CHECK(reply->pid() == first);
    // Later calls land on the replacement; none fails meanwhile.
    REQUIRE(WaitUntil(
        [&] {
          absl::StatusOr<iwtest::EchoReply> next = host->Echo(iwtest::EchoRequest());
          REQUIRE_THAT(next.status(), IsOk());
          return next->pid() != first;
        },
        absl::Seconds(10) * kSanitizerSlowdown));
    CHECK(WaitUntil([&] { return !iw::testing::ProcessAlive(first); }, absl::Seconds(10)));
    iw::PoolStats stats = host->stats();
    CHECK(stats.workers_recycled == 1);
    CHECK(stats.workers_crashed == 0);
    CHECK(stats.calls_failed == 0);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Recycling: by age and by resident memory", "[e2e][pool][recycle]") {
  iw::PoolOptions pool;
  SECTION("age") { pool.recycle_after_age = absl::Milliseconds(300); }
  SECTION("resident memory read from /proc") { pool.recycle_above_rss_bytes = 1; }
  {
    auto host = SpawnPoolOrDie(TestWorkerOptions(), pool);
    const int first = host->pid();
    REQUIRE(WaitUntil(
        [&] {
          absl::StatusOr<iwtest::EchoReply> next = host->Echo(iwtest::EchoRequest());
          REQUIRE_THAT(next.status(), IsOk());
          return next->pid() != first;
        },
        absl::Seconds(10) * kSanitizerSlowdown));
    iw::PoolStats stats = host->stats();
    CHECK(stats.workers_recycled >= 1);
    CHECK(stats.workers_crashed == 0);
    CHECK(stats.calls_failed == 0);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Recycling: bad recycle options are INVALID_ARGUMENT", "[e2e][pool][recycle]") {
  iw::PoolOptions pool;
  SECTION("negative calls") { pool.recycle_after_calls = -1; }
  SECTION("negative RSS") { pool.recycle_above_rss_bytes = -1; }
  SECTION("zero age") { pool.recycle_after_age = absl::ZeroDuration(); }
  CHECK_THAT(TestServiceHost::SpawnPool(TestWorkerOptions(), pool).status(),
             StatusIs(absl::StatusCode::kInvalidArgument, "recycle_after_calls >= 0"));
  CHECK(NoChildProcesses());
}

TEST_CASE("WorkerCrash: a death carries a typed payload; a handler's UNAVAILABLE does not",
          "[e2e][crash]") {
  iwtest::TestServiceMethodConfig methods;
  {
    auto host = SpawnPoolOrDie(TestWorkerOptions(), iw::PoolOptions(), methods);
    SECTION("an exit") {
      const int pid = host->pid();
      iwtest::CrashRequest crash;
      crash.set_exit_code(42);
      crash.set_last_words("fatal: out of widgets");
      absl::Status status = host->Crash(crash).status();
      // The message stays as it was.
      CHECK_THAT(status, StatusIs(absl::StatusCode::kUnavailable, "crashed: exit code 42"));
      std::optional<iw::WorkerCrash> details = iw::WorkerCrashOf(status);
      REQUIRE(details.has_value());
      CHECK(details->cause() == iw::WorkerCrash::EXITED);
      CHECK(details->exit_code() == 42);
      CHECK(details->end_case() == iw::WorkerCrash::kExitCode);
      CHECK(details->pid() == pid);
      CHECK(details->method() == "iwtest.TestService.Crash");
      CHECK_THAT(details->stderr_tail(), Catch::Matchers::EndsWith("fatal: out of widgets"));
      CHECK(details->attempt() == 1);
      CHECK(details->max_attempts() == 1);
      CHECK_THAT(details->worker_id(), Catch::Matchers::Contains("TestService#"));
    }
    SECTION("a signal") {
      iwtest::CrashRequest crash;
      crash.set_signal(SIGSEGV);
      std::optional<iw::WorkerCrash> details = iw::WorkerCrashOf(host->Crash(crash).status());
      REQUIRE(details.has_value());
      CHECK(details->cause() == iw::WorkerCrash::KILLED_BY_SIGNAL);
      CHECK(details->signal() == SIGSEGV);
    }
    SECTION("a handler that returns UNAVAILABLE, even with a forged payload") {
      iwtest::FailRequest fail;
      fail.set_code(static_cast<int>(absl::StatusCode::kUnavailable));
      fail.set_message("backend down");
      fail.set_attach_worker_crash(true);
      absl::Status status = host->Fail(fail).status();
      CHECK_THAT(status, StatusIs(absl::StatusCode::kUnavailable, "backend down"));
      CHECK_FALSE(iw::WorkerCrashOf(status).has_value());
    }
  }
  SECTION("CRASH_RETRY: the attempt numbers") {
    methods.crash.on_crash = iw::CrashPolicy::kRetry;
    methods.crash.max_attempts = 2;
    auto host = SpawnPoolOrDie(TestWorkerOptions(), iw::PoolOptions(), methods);
    iwtest::CrashRequest crash;
    crash.set_exit_code(9);
    absl::Status status = host->Crash(crash).status();
    CHECK_THAT(status, StatusIs(absl::StatusCode::kUnavailable, "(attempt 2 of 2)"));
    std::optional<iw::WorkerCrash> details = iw::WorkerCrashOf(status);
    REQUIRE(details.has_value());
    CHECK(details->attempt() == 2);
    CHECK(details->max_attempts() == 2);
  }
  CHECK(NoChildProcesses());
}

// The chaos run: a random ready worker SIGKILLed at a fixed cadence while
// calls flow with CRASH_RETRY.
TEST_CASE(
    "Chaos: a pool under repeated kills hangs no call, does not collapse, and with "
    "CRASH_RETRY fails none",
    "[e2e][pool][chaos]") {
  // ThreadSanitizer slows spawns by an order of magnitude: fewer calls,
  // slower kills. Calls keep coming until both kCalls calls were made and
  // kMinKills kills happened (at most kMaxCalls calls). The killer stops
  // after kMaxKills kills.
  const bool slow = kSanitizerSlowdown > 1;
  const int kCalls = slow ? 100 : 300;
  const int kMinKills = slow ? 3 : 8;
  const int kMaxKills = slow ? 12 : 40;
  constexpr int kMaxCalls = 3000;
  constexpr int kWindow = 24;  // calls in flight at once
  const absl::Duration kKillEvery = absl::Milliseconds(slow ? 700 : 200);
  const absl::Duration kTimeout = absl::Seconds(20);
  const absl::Duration kMargin = absl::Seconds(2) * kSanitizerSlowdown;
  {
    iw::PoolOptions pool;
    pool.min_workers = pool.max_workers = 3;
    pool.max_calls_per_worker = 8;
    iwtest::TestServiceMethodConfig methods;
    methods.sleep.on_crash = iw::CrashPolicy::kRetry;
    // One attempt more than there are kills, so that "fails none" holds
    // whatever the machine's speed. It was 10 with no cap on the kills: the
    // killer works by the clock, calls by the CPU, so on a loaded machine
    // (2 cores, other test actions building) each attempt lasted longer,
    // more of them were under a kill, the run lasted longer (50-75 kills
    // instead of about 45), and a call now and then had all its 10 attempts
    // killed: "failed == 0" failed with "crashed: killed by signal SIGKILL
    // (attempt 10 of 10)". That was the test's bad luck, not a lost call.
    // Now only a death that CRASH_RETRY does not retry (or a hung, late or
    // misrouted call) fails the run.
    methods.sleep.max_attempts = kMaxKills + 1;

    absl::Mutex mu;
    int issued = 0, finished = 0, failed = 0, late = 0;
    bool issuing_done = false;  // once set, no call is issued any more
    std::atomic<int> kills{0};
    std::set<int> served_by;  // pids seen in replies: ready workers
    std::string first_failure;
    std::function<void()> issue_one;
    // Declared after what its callbacks use: destroyed (closed, every
    // callback returned) first.
    auto host = SpawnPoolOrDie(TestWorkerOptions(), pool, methods);
    issue_one = [&] {
      int tag;
      {
        absl::MutexLock lock(&mu);
        if (issuing_done || issued >= kMaxCalls ||
            (issued >= kCalls && kills.load() >= kMinKills)) {
          issuing_done = true;
          return;
        }
        tag = issued++;
      }
      const absl::Time start = absl::Now();
      host->SleepAsync(
          SleepFor(100 + (tag * 37) % 200, tag),
          [&, start](absl::StatusOr<iwtest::SleepReply> reply) {
            const absl::Duration took = absl::Now() - start;
            {
              absl::MutexLock lock(&mu);
              ++finished;
              if (took > kTimeout + kMargin) ++late;
              if (reply.ok()) {
                served_by.insert(reply->pid());
              } else if (++failed == 1) {
                first_failure = reply.status().ToString();
              }
            }
            issue_one();
          },
          Within(kTimeout));
    };

    std::atomic<bool> stop{false};
    std::atomic<int> samples{0}, samples_ready{0};
    // The collapse check samples while the killer kills.
    std::thread sampler([&] {
      while (!stop.load() && kills.load() < kMaxKills) {
        ++samples;
        if (host->stats().workers > 0) ++samples_ready;
        absl::SleepFor(absl::Milliseconds(10));
      }
    });
    std::thread killer([&] {
      std::mt19937 random(42);
      while (!stop.load() && kills.load() < kMaxKills) {
        absl::SleepFor(kKillEvery);
        std::vector<int> candidates;
        {
          absl::MutexLock lock(&mu);
          for (int pid : LiveChildren()) {
            if (served_by.count(pid)) candidates.push_back(pid);
          }
        }
        if (candidates.empty()) continue;
        if (::kill(candidates[random() % candidates.size()], SIGKILL) == 0) ++kills;
      }
    });
    for (int i = 0; i < kWindow; ++i) issue_one();
    {
      absl::MutexLock lock(&mu);
      // Every call ends within its deadline plus a margin: the run ends
      // once no call is in flight (none is issued after that).
      auto all = [&] { return issuing_done && finished == issued; };
      CHECK(mu.AwaitWithTimeout(absl::Condition(&all), kTimeout + kMargin + absl::Seconds(90)));
    }
    stop = true;
    sampler.join();
    killer.join();

    absl::MutexLock lock(&mu);
    INFO("calls: " << issued << ", kills: " << kills.load()
                   << ", samples with a ready worker: " << samples_ready.load() << " of "
                   << samples.load() << ", first failure: " << first_failure);
    CHECK(finished == issued);  // 0 hung calls
    CHECK(late == 0);
    CHECK(failed == 0);                // CRASH_RETRY absorbed every kill
    CHECK(kills.load() >= kMinKills);  // the run saw chaos
    // No collapse: a ready worker in at least 80% of the samples (before
    // per-seat backoff and parallel respawns: about 10% under a kill every
    // 200 ms).
    CHECK(samples_ready.load() >= samples.load() * 8 / 10);
  }
  CHECK(NoChildProcesses());
}

}  // namespace
