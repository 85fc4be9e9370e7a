// The native carrier (WorkerTransport::kNative, the default for spawned
// workers) end to end: a worker process that breaks its protocol
// (tests/workers/rogue_native_worker), and the real test worker under what
// is specific to the native host end (leader/follower reads of blocking
// callers next to asynchronous calls, large frames). The rest of the e2e
// suite runs on the native carrier too, since it is the default.
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "catch2/catch.hpp"
#include "runtime/worker_crash.h"
#include "tests/e2e/e2e_util.h"

namespace {

using iw::testing::AsyncResults;
using iw::testing::IsOk;
using iw::testing::kSanitizerSlowdown;
using iw::testing::NoChildProcesses;
using iw::testing::RunfilePath;
using iw::testing::SpawnOrDie;
using iw::testing::StatusIs;
using iw::testing::TestWorkerOptions;

// Bounds the failure case only.
absl::Duration LongWait() { return absl::Seconds(30) * kSanitizerSlowdown; }

std::string TempPath(absl::string_view name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = absl::StrCat(dir != nullptr ? dir : "/tmp", "/native_carrier_", ::getpid(),
                                  "_", name, "_", absl::ToUnixNanos(absl::Now()));
  ::unlink(path.c_str());
  return path;
}

// The rogue worker in `mode`; it misbehaves once, its replacements serve.
iw::WorkerOptions RogueOptions(const std::string& mode, const std::string& once_marker) {
  iw::WorkerOptions options;
  options.executable = RunfilePath("tests/workers/rogue_native_worker");
  options.args = {mode};
  options.env["ROGUE_ONCE_MARKER"] = once_marker;
  return options;
}

TEST_CASE(
    "Native carrier: a worker that breaks the protocol is killed; its call fails with "
    "UNAVAILABLE naming the violation and a PROTOCOL_ERROR report; its replacement serves",
    "[e2e][native]") {
  std::string mode;
  std::string violation;
  SECTION("a reply to a call never sent") {
    mode = "reply-to-unsent";
    violation = "a reply to call 1001, which was never sent";
  }
  SECTION("a frame header that is garbage") {
    mode = "garbage-header";
    violation = "malformed frame header: unknown frame kind 153";
  }
  SECTION("an error reply that carries a message") {
    mode = "error-with-payload";
    violation = "malformed reply frame: a reply with status code 13 carries 5 bytes of message";
  }
  SECTION("a hello frame, which only the host sends") {
    mode = "hello-frame";
    violation = "a hello frame came from the worker";
  }
  SECTION("a call frame, which only the host sends") {
    mode = "call-frame";
    violation = "a call frame came from the worker";
  }
  SECTION("a GoAway") {
    mode = "goaway";
    violation = "the worker ended the connection: because";
  }
  const std::string marker = TempPath(mode);
  {
    auto host = SpawnOrDie(RogueOptions(mode, marker));
    CHECK(host->stats().workers_native == 1);
    const int pid = host->pid();
    iwtest::EchoRequest echo;
    echo.set_text("to a rogue");
    absl::Status status = host->Echo(echo).status();
    CHECK_THAT(status,
               StatusIs(absl::StatusCode::kUnavailable,
                        absl::StrCat("broke the call protocol and was killed: ", violation)));
    std::optional<iw::WorkerCrash> crash = iw::WorkerCrashOf(status);
    REQUIRE(crash.has_value());
    CHECK(crash->cause() == iw::WorkerCrash::PROTOCOL_ERROR);
    CHECK(crash->pid() == pid);
    CHECK(crash->method() == "iwtest.TestService.Echo");
    // Killed by the host (not reaped later as an orphan).
    CHECK(crash->signal() == SIGKILL);
    // The replacement (which behaves) serves the next call.
    absl::StatusOr<iwtest::EchoReply> next = host->Echo(echo);
    CHECK_THAT(next.status(), IsOk());
    CHECK(host->pid() != pid);
    CHECK(host->stats().workers_crashed == 1);
    CHECK_THAT(host->Close(), IsOk());
  }
  CHECK(NoChildProcesses());
  ::unlink(marker.c_str());
}

TEST_CASE(
    "Native carrier: a worker that exits mid-call is reported by its exit status; its "
    "replacement serves",
    "[e2e][native]") {
  const std::string marker = TempPath("exit");
  {
    auto host = SpawnOrDie(RogueOptions("exit", marker));
    const int pid = host->pid();
    absl::Status status = host->Echo(iwtest::EchoRequest()).status();
    CHECK_THAT(status, StatusIs(absl::StatusCode::kUnavailable, "crashed: exit code 3"));
    std::optional<iw::WorkerCrash> crash = iw::WorkerCrashOf(status);
    REQUIRE(crash.has_value());
    CHECK(crash->cause() == iw::WorkerCrash::EXITED);
    CHECK(crash->exit_code() == 3);
    CHECK(crash->pid() == pid);
    CHECK_THAT(host->Echo(iwtest::EchoRequest()).status(), IsOk());
    CHECK(host->pid() != pid);
    CHECK_THAT(host->Close(), IsOk());
  }
  CHECK(NoChildProcesses());
  ::unlink(marker.c_str());
}

TEST_CASE(
    "Native carrier: a worker that closes its socket mid-frame and lives on fails its calls "
    "with UNAVAILABLE CONNECTION_LOST, not as a protocol error; Close() still ends it",
    "[e2e][native]") {
  const std::string marker = TempPath("close-mid-frame");
  {
    auto host = SpawnOrDie(RogueOptions("close-mid-frame", marker));
    const int pid = host->pid();
    absl::Status status = host->Echo(iwtest::EchoRequest()).status();
    // A worker killed while writing a reply looks the same on the socket:
    // the exit status decides, and without one the connection is lost.
    CHECK_THAT(status, StatusIs(absl::StatusCode::kUnavailable,
                                "connection closed in the middle of a frame"));
    std::optional<iw::WorkerCrash> crash = iw::WorkerCrashOf(status);
    REQUIRE(crash.has_value());
    CHECK(crash->cause() == iw::WorkerCrash::CONNECTION_LOST);
    CHECK(crash->pid() == pid);
    // As documented for a live worker whose connection broke (see
    // Fault::DropConnection): not counted as crashed, not replaced; later
    // calls fail the same way.
    absl::Status later = host->Echo(iwtest::EchoRequest()).status();
    CHECK_THAT(later, StatusIs(absl::StatusCode::kUnavailable, "connection to the worker ended"));
    CHECK(host->stats().workers_crashed == 0);
    CHECK_THAT(host->Close(), IsOk());
  }
  CHECK(NoChildProcesses());
  ::unlink(marker.c_str());
}

TEST_CASE("Native carrier: the rogue worker's handshake is right (it serves in echo mode)",
          "[e2e][native]") {
  {
    iw::WorkerOptions options = RogueOptions("echo", TempPath("unused"));
    options.env.clear();
    auto host = SpawnOrDie(options);
    CHECK(host->stats().workers_native == 1);
    for (int i = 0; i < 3; ++i) CHECK_THAT(host->Echo(iwtest::EchoRequest()).status(), IsOk());
    CHECK_THAT(host->Close(), IsOk());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Native carrier: the default for spawned workers; kGrpc turns it off", "[e2e][native]") {
  for (bool grpc : {false, true}) {
    INFO("kGrpc " << grpc);
    {
      iw::WorkerOptions options = TestWorkerOptions();
      if (grpc) options.transport = iw::WorkerTransport::kGrpc;
      auto host = SpawnOrDie(options);
      CHECK(host->stats().workers_native == (grpc ? 0 : 1));
      iwtest::EchoRequest echo;
      echo.set_text("which carrier");
      absl::StatusOr<iwtest::EchoReply> reply = host->Echo(echo);
      REQUIRE_THAT(reply.status(), IsOk());
      CHECK(reply->text() == "which carrier");
      CHECK_THAT(host->Close(), IsOk());
    }
    CHECK(NoChildProcesses());
  }
}

// What the test worker wrote at ready ($IW_TEST_READY_REPORT, see
// tests/workers/test_worker.cc): its threads' names, and whether gRPC was
// initialised.
struct ReadyReport {
  std::vector<std::string> threads;
  bool grpc_initialized = true;
  bool complete = false;
};

ReadyReport ReadReadyReport(const std::string& path) {
  ReadyReport report;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    absl::string_view rest = line;
    if (absl::ConsumePrefix(&rest, "thread ")) report.threads.emplace_back(rest);
    if (absl::ConsumePrefix(&rest, "grpc_initialized ")) {
      report.grpc_initialized = rest != "0";
      report.complete = true;  // the last line
    }
  }
  return report;
}

TEST_CASE(
    "Native carrier: a spawned worker has initialised no gRPC and started only its frame "
    "reader when it says it is ready; its handler threads start with the calls",
    "[e2e][native]") {
  const std::string report_path = TempPath("ready_report");
  iw::WorkerOptions options = TestWorkerOptions();
  options.transport = iw::WorkerTransport::kNative;
  options.env["IW_TEST_READY_REPORT"] = report_path;
  {
    auto host = SpawnOrDie(options);
    // Written before the ready byte, so whole now.
    ReadyReport report = ReadReadyReport(report_path);
    REQUIRE(report.complete);
    CHECK_FALSE(report.grpc_initialized);
    // The main thread (named after the executable) and the native
    // carrier's reader; ThreadSanitizer adds its background thread (also
    // named after the executable) at the first pthread_create.
    std::vector<std::string> expected = {"iw-native-read", "test_worker"};
#if defined(__SANITIZE_THREAD__)
    expected.push_back("test_worker");
#endif
    std::sort(report.threads.begin(), report.threads.end());
    CHECK(report.threads == expected);

    // Handler threads start with the calls: three calls still run at
    // once (each waits for a file the test creates once all three run).
    constexpr int kAtOnce = 3;
    const std::string release = TempPath("release");
    std::vector<std::string> started;
    AsyncResults<iwtest::SleepReply> sleeps(kAtOnce);
    iw::CallOptions long_call;
    long_call.timeout = LongWait();
    for (int i = 0; i < kAtOnce; ++i) {
      started.push_back(TempPath(absl::StrCat("started_", i)));
      iwtest::SleepRequest sleep;
      sleep.set_ms(absl::ToInt64Milliseconds(LongWait()));
      sleep.set_started_marker(started.back());
      sleep.set_until_exists(release);
      host->SleepAsync(sleep, sleeps.Slot(i), long_call);
    }
    const absl::Time give_up = absl::Now() + LongWait();
    auto all_started = [&] {
      return std::all_of(started.begin(), started.end(),
                         [](const std::string& path) { return ::access(path.c_str(), F_OK) == 0; });
    };
    while (!all_started() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(2));
    CHECK(all_started());
    std::ofstream(release).put('x');
    REQUIRE(sleeps.Wait(LongWait()));
    for (int i = 0; i < kAtOnce; ++i) CHECK_THAT(sleeps[i].status(), IsOk());
    for (const std::string& path : started) ::unlink(path.c_str());
    ::unlink(release.c_str());
    CHECK_THAT(host->Close(), IsOk());
  }
  ::unlink(report_path.c_str());
  CHECK(NoChildProcesses());
}

TEST_CASE("Native carrier: 16 MiB both ways, blocking and asynchronous", "[e2e][native]") {
  {
    auto host = SpawnOrDie();
    REQUIRE(host->stats().workers_native == 1);
    std::string payload(16 << 20, '\0');
    for (size_t i = 0; i < payload.size(); ++i) {
      payload[i] = static_cast<char>(i * 13 + (i >> 16));
    }
    iwtest::EchoRequest request;
    request.set_payload(payload);
    absl::StatusOr<iwtest::EchoReply> reply = host->Echo(request);
    REQUIRE_THAT(reply.status(), IsOk());
    CHECK(reply->payload() == payload);
    constexpr int kAsync = 3;
    AsyncResults<iwtest::EchoReply> results(kAsync);
    for (int i = 0; i < kAsync; ++i) host->EchoAsync(request, results.Slot(i));
    REQUIRE(results.Wait(LongWait()));
    for (int i = 0; i < kAsync; ++i) {
      absl::StatusOr<iwtest::EchoReply> each = results[i];
      REQUIRE_THAT(each.status(), IsOk());
      CHECK(each->payload() == payload);
    }
    CHECK_THAT(host->Close(), IsOk());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE(
    "Native carrier: 100 asynchronous calls and 8 threads of blocking calls at once all "
    "get their own replies",
    "[e2e][native]") {
  {
    auto host = SpawnOrDie();
    REQUIRE(host->stats().workers_native == 1);
    constexpr int kAsync = 100;
    constexpr int kThreads = 8;
    constexpr int kSyncPerThread = 40;
    AsyncResults<iwtest::EchoReply> results(kAsync);
    std::atomic<int> sync_ok{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&host, &sync_ok, t] {
        for (int k = 0; k < kSyncPerThread; ++k) {
          iwtest::EchoRequest request;
          request.set_text(absl::StrCat("sync ", t, " ", k));
          // Some inline, some on the worker's executor; some large.
          if (k % 10 == 3) request.set_payload(std::string(64 << 10, 'a' + t));
          absl::StatusOr<iwtest::EchoReply> reply =
              k % 2 == 0 ? host->Echo(request) : host->EchoInline(request);
          const std::string text =
              reply.ok() ? reply->text().substr(0, reply->text().find('|')) : std::string();
          if (reply.ok() && text == request.text() && reply->payload() == request.payload()) {
            sync_ok.fetch_add(1);
          }
        }
      });
    }
    for (int i = 0; i < kAsync; ++i) {
      iwtest::EchoRequest request;
      request.set_text(absl::StrCat("async ", i));
      if (i % 7 == 0) request.set_payload(std::string(100 << 10, 'A' + i % 26));
      host->EchoAsync(request, results.Slot(i));
    }
    for (std::thread& thread : threads) thread.join();
    REQUIRE(results.Wait(LongWait()));
    CHECK(sync_ok.load() == kThreads * kSyncPerThread);
    for (int i = 0; i < kAsync; ++i) {
      INFO("async call " << i);
      absl::StatusOr<iwtest::EchoReply> reply = results[i];
      REQUIRE_THAT(reply.status(), IsOk());
      CHECK(reply->text() == absl::StrCat("async ", i));
      CHECK(reply->payload().size() == (i % 7 == 0 ? size_t{100} << 10 : 0));
    }
    CHECK(host->stats().calls_completed == kAsync + kThreads * kSyncPerThread);
    CHECK_THAT(host->Close(), IsOk());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE(
    "Native carrier: after a call's deadline passes, blocking or asynchronous, the next "
    "calls are served normally",
    "[e2e][native]") {
  {
    auto host = SpawnOrDie();
    REQUIRE(host->stats().workers_native == 1);
    const int pid = host->pid();
    iwtest::SleepRequest slow;
    slow.set_ms(5000);
    slow.set_stop_when_cancelled(true);
    iw::CallOptions call;
    call.timeout = absl::Milliseconds(50);
    CHECK_THAT(host->Sleep(slow, call).status(),
               StatusIs(absl::StatusCode::kDeadlineExceeded, "deadline exceeded after 50ms"));
    AsyncResults<iwtest::SleepReply> late(1);
    host->SleepAsync(slow, late.Slot(0), call);
    REQUIRE(late.Wait(LongWait()));
    CHECK_THAT(late[0].status(),
               StatusIs(absl::StatusCode::kDeadlineExceeded, "deadline exceeded after 50ms"));
    for (int i = 0; i < 3; ++i) {
      iwtest::SleepRequest quick;
      quick.set_tag(i);
      absl::StatusOr<iwtest::SleepReply> reply = host->Sleep(quick);
      REQUIRE_THAT(reply.status(), IsOk());
      CHECK(reply->tag() == i);
    }
    AsyncResults<iwtest::SleepReply> after(1);
    iwtest::SleepRequest quick;
    quick.set_tag(42);
    host->SleepAsync(quick, after.Slot(0));
    REQUIRE(after.Wait(LongWait()));
    REQUIRE_THAT(after[0].status(), IsOk());
    CHECK(after[0]->tag() == 42);
    // The same worker throughout: a deadline is no crash.
    CHECK(host->pid() == pid);
    CHECK_THAT(host->Close(), IsOk());
  }
  CHECK(NoChildProcesses());
}

}  // namespace
