// A representative part of the spine's e2e suite, run against both a spawned
// worker and the same handler in-process, from the same test code: the host
// must not be able to tell the difference (apart from pid() and the id).
//
// Crash, Spin and Allocate are not called here: in-process, they would hurt
// the test process itself (see fault_injection_test.cc for crashes).
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "catch2/catch.hpp"
#include "tests/inprocess/host_modes.h"

namespace {

using iw::testing::IsOk;
using iw::testing::NoChildProcesses;
using iw::testing::StatusIs;
using iwtest::Mode;
using iwtest::StartHost;

// gRPC sends a deadline as "time remaining": the worker's deadline is later
// than the host's by the transit time.
constexpr int64_t kTransitSlackMs = 100;

TEST_CASE("Host (both modes): a typed round trip reaches the handler", "[inprocess][e2e]") {
  const Mode mode = GENERATE(Mode::kSpawned, Mode::kInProcess);
  CAPTURE(mode);
  {
    iwtest::TestHandler handler;
    auto host = StartHost(mode, handler);
    CHECK(host->state() == iw::WorkerState::kReady);
    CHECK(host->IsActive());
    CHECK_THAT(host->worker_id(), Catch::Contains("TestService#"));

    iwtest::EchoRequest request;
    request.set_text("hello");
    request.set_payload(std::string("\0\1\2bytes", 8));
    absl::StatusOr<iwtest::EchoReply> reply = host->Echo(request);
    REQUIRE_THAT(reply.status(), IsOk());
    CHECK(reply->text() == "hello");
    CHECK(reply->payload() == request.payload());
    if (mode == Mode::kSpawned) {
      CHECK(host->pid() > 0);
      CHECK(reply->pid() == host->pid());
      CHECK(reply->pid() != ::getpid());
    } else {
      CHECK(host->pid() == 0);  // no process of its own
      CHECK(reply->pid() == ::getpid());
      CHECK_THAT(host->worker_id(), Catch::EndsWith(" (in-process)"));
    }

    CHECK_THAT(host->Close(), IsOk());
    CHECK(host->state() == iw::WorkerState::kClosed);
    CHECK_THAT(host->Close(), IsOk());  // idempotent
    CHECK_THAT(host->Echo(request).status(),
               StatusIs(absl::StatusCode::kFailedPrecondition, "is closed"));
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Host (both modes): 1,000 calls from 8 threads are each answered with their own reply",
          "[inprocess][e2e]") {
  const Mode mode = GENERATE(Mode::kSpawned, Mode::kInProcess);
  CAPTURE(mode);
  {
    iwtest::TestHandler handler;
    auto host = StartHost(mode, handler);
    std::atomic<int> ok{0};
    std::atomic<int> mismatched{0};
    absl::Mutex first_mu;
    std::string first_failure;
    std::vector<std::thread> threads;
    for (int t = 0; t < 8; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < 125; ++i) {
          iwtest::EchoRequest request;
          request.set_text(absl::StrCat("thread ", t, " call ", i));
          absl::StatusOr<iwtest::EchoReply> reply = host->Echo(request);
          if (reply.ok() && reply->text() == request.text()) {
            ++ok;
          } else {
            ++mismatched;
            absl::MutexLock lock(&first_mu);
            if (first_failure.empty()) {
              first_failure =
                  reply.ok() ? absl::StrCat("\"", reply->text(), "\" for \"", request.text(), "\"")
                             : reply.status().ToString();
            }
          }
        }
      });
    }
    for (auto& thread : threads) thread.join();
    INFO("first failure: " << first_failure);
    CHECK(ok == 1000);
    CHECK(mismatched == 0);
    CHECK(host->stats().calls_completed == 1000);
    // Metrics() counts every one of them exactly, whatever the mode.
    const iw::HostMetrics metrics = host->Metrics();
    const iw::MethodMetrics* echo = metrics.Method("Echo");
    REQUIRE(echo != nullptr);
    CHECK(echo->calls_started == 1000);
    CHECK(echo->calls_by_code[0] == 1000);
    CHECK(echo->calls_in_flight == 0);
    CHECK(echo->call_time.count == 1000);
    CHECK(echo->queue_wait.count == 1000);
    CHECK(echo->run_time.count == 1000);
    CHECK(echo->handler_time.count == 1000);
    CHECK(echo->request_bytes > 1000 * 15);  // "thread t call i" and framing
    REQUIRE(metrics.workers.size() == 1);
    CHECK(metrics.workers[0].calls_served == 1000);
    CHECK(metrics.workers[0].pid == host->pid());
    if (mode == Mode::kInProcess) CHECK(metrics.workers[0].rss_bytes == 0);
    if (mode == Mode::kSpawned) CHECK(metrics.workers[0].rss_bytes > 0);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Host (both modes): 1,000 concurrent async calls each complete with their own reply",
          "[inprocess][e2e]") {
  const Mode mode = GENERATE(Mode::kSpawned, Mode::kInProcess);
  CAPTURE(mode);
  {
    iwtest::TestHandler handler;
    auto host = StartHost(mode, handler);
    constexpr int kCalls = 1000;
    absl::Mutex mu;
    int done = 0;
    int correct = 0;
    // Not Sleep's 300 ms .proto timeout: this is about correlation, and
    // 1,000 calls queue behind 4 handler threads.
    iw::CallOptions patient;
    patient.timeout = absl::Seconds(30);
    for (int i = 0; i < kCalls; ++i) {
      iwtest::SleepRequest request;  // ms = 0: returns at once with the tag
      request.set_tag(i);
      host->SleepAsync(
          request,
          [&, i](absl::StatusOr<iwtest::SleepReply> reply) {
            absl::MutexLock lock(&mu);
            ++done;
            if (reply.ok() && reply->tag() == i) ++correct;
          },
          patient);
    }
    absl::MutexLock lock(&mu);
    auto all_done = [&] { return done == kCalls; };
    REQUIRE(mu.AwaitWithTimeout(absl::Condition(&all_done), absl::Seconds(30)));
    CHECK(correct == kCalls);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE(
    "Host (both modes): a call over its deadline fails with DEADLINE_EXCEEDED naming "
    "method and bound",
    "[inprocess][e2e]") {
  const Mode mode = GENERATE(Mode::kSpawned, Mode::kInProcess);
  CAPTURE(mode);
  {
    iwtest::TestHandler handler;
    auto host = StartHost(mode, handler);
    iwtest::SleepRequest slow;
    slow.set_ms(1000);

    SECTION("bound from the .proto method option") {
      absl::Status status = host->Sleep(slow).status();
      CHECK_THAT(status, StatusIs(absl::StatusCode::kDeadlineExceeded,
                                  "iwtest.TestService.Sleep: deadline exceeded after 300ms"));
      CHECK_THAT(status, StatusIs(absl::StatusCode::kDeadlineExceeded, "(iw.method).timeout_ms"));
    }
    SECTION("bound from the call's own option") {
      iw::CallOptions options;
      options.timeout = absl::Milliseconds(50);
      CHECK_THAT(host->Sleep(slow, options).status(),
                 StatusIs(absl::StatusCode::kDeadlineExceeded,
                          "iwtest.TestService.Sleep: deadline exceeded after 50ms (timeout "
                          "from CallOptions::timeout)"));
    }
    SECTION("bound from WorkerOptions::call_timeout") {
      iw::WorkerOptions options;
      const absl::Duration bound = absl::Milliseconds(80) * iw::testing::kSanitizerSlowdown;
      options.call_timeout = bound;
      auto bounded = StartHost(mode, handler, options);
      iwtest::EchoRequest echo;
      CHECK_THAT(bounded->Echo(echo).status(), IsOk());
      CHECK_THAT(bounded->Sleep(slow).status(),
                 StatusIs(absl::StatusCode::kDeadlineExceeded,
                          "after " + absl::FormatDuration(bound) +
                              " (timeout from WorkerOptions::call_timeout)"));
    }
    // Still serving afterwards.
    iwtest::EchoRequest echo;
    echo.set_text("still here");
    CHECK_THAT(host->Echo(echo).status(), IsOk());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Host (both modes): the typed per-method config overrides the .proto timeout",
          "[inprocess][e2e]") {
  const Mode mode = GENERATE(Mode::kSpawned, Mode::kInProcess);
  CAPTURE(mode);
  {
    iwtest::TestHandler handler;
    iwtest::TestServiceMethodConfig methods;
    methods.sleep.timeout = absl::Seconds(5);
    auto host = StartHost(mode, handler, {}, methods);
    iwtest::SleepRequest request;
    request.set_ms(600);  // over the .proto's 300 ms, under the host's 5 s
    absl::StatusOr<iwtest::SleepReply> reply = host->Sleep(request);
    REQUIRE_THAT(reply.status(), IsOk());
    // The handler saw the host's deadline, not the .proto's.
    CHECK(reply->deadline_left_ms() > 1000);
    CHECK(reply->deadline_left_ms() <= 5000 + kTransitSlackMs);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Host (both modes): a cancelled async call reports CANCELLED and the handler sees it",
          "[inprocess][e2e]") {
  const Mode mode = GENERATE(Mode::kSpawned, Mode::kInProcess);
  CAPTURE(mode);
  {
    iwtest::TestHandler handler;
    auto host = StartHost(mode, handler);
    iwtest::SleepRequest request;
    request.set_ms(10000);
    request.set_stop_when_cancelled(true);
    iw::CallOptions options;
    options.timeout = absl::Seconds(20);
    absl::Notification finished;
    absl::Status result;
    iw::CallHandle handle = host->SleepAsync(
        request,
        [&](absl::StatusOr<iwtest::SleepReply> reply) {
          result = reply.status();
          finished.Notify();
        },
        options);
    absl::SleepFor(absl::Milliseconds(100));  // let the handler start
    handle.Cancel();
    REQUIRE(finished.WaitForNotificationWithTimeout(absl::Seconds(5)));
    CHECK_THAT(result, StatusIs(absl::StatusCode::kCancelled,
                                "iwtest.TestService.Sleep: cancelled by the host"));
    iwtest::EchoRequest echo;
    echo.set_text("after cancel");
    CHECK_THAT(host->Echo(echo).status(), IsOk());
    CHECK_THAT(host->Close(), IsOk());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Host (both modes): handler errors travel unchanged; exceptions become INTERNAL",
          "[inprocess][e2e]") {
  const Mode mode = GENERATE(Mode::kSpawned, Mode::kInProcess);
  CAPTURE(mode);
  {
    iwtest::TestHandler handler;
    auto host = StartHost(mode, handler);
    iwtest::FailRequest fail;
    fail.set_code(static_cast<int>(absl::StatusCode::kNotFound));
    fail.set_message("no such widget: 42");
    absl::Status status = host->Fail(fail).status();
    CHECK(status.code() == absl::StatusCode::kNotFound);
    CHECK(status.message() == "no such widget: 42");

    fail.set_throw_exception(true);
    fail.set_message("boom");
    CHECK_THAT(host->Fail(fail).status(),
               StatusIs(absl::StatusCode::kInternal,
                        "handler for /iwtest.TestService/Fail threw std::runtime_error: boom"));
    iwtest::EchoRequest echo;
    echo.set_text("alive");
    CHECK_THAT(host->Echo(echo).status(), IsOk());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Host (both modes): states are reported from start to close", "[inprocess][e2e]") {
  const Mode mode = GENERATE(Mode::kSpawned, Mode::kInProcess);
  CAPTURE(mode);
  {
    absl::Mutex mu;
    std::vector<iw::WorkerState> states;
    iw::WorkerOptions options;
    options.on_state_change = [&](iw::WorkerState state, const std::string&) {
      absl::MutexLock lock(&mu);
      states.push_back(state);
    };
    iwtest::TestHandler handler;
    auto host = StartHost(mode, handler, options);
    CHECK_THAT(host->Close(), IsOk());
    absl::MutexLock lock(&mu);
    CHECK(states == std::vector<iw::WorkerState>{iw::WorkerState::kReady, iw::WorkerState::kClosing,
                                                 iw::WorkerState::kClosed});
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Host (both modes): the three kinds of stream work the same", "[inprocess][e2e]") {
  const Mode mode = GENERATE(Mode::kSpawned, Mode::kInProcess);
  CAPTURE(mode);
  {
    iwtest::TestHandler handler;
    auto host = StartHost(mode, handler);
    iwtest::CountRequest count;
    count.set_text("n");
    count.set_count(5);
    iw::ResponseStream<iwtest::CountReply> numbers = host->Count(count);
    int read = 0;
    for (const iwtest::CountReply& reply : numbers) CHECK(reply.index() == read++);
    CHECK(read == 5);
    CHECK_THAT(numbers.Finish(), IsOk());

    iw::RequestStream<iwtest::Chunk, iwtest::SumReply> upload = host->Sum();
    iwtest::Chunk chunk;
    chunk.set_data("abc");
    REQUIRE(upload.Write(chunk));
    REQUIRE(upload.Write(chunk));
    absl::StatusOr<iwtest::SumReply> sum = upload.Finish();
    REQUIRE_THAT(sum.status(), IsOk());
    CHECK(sum->chunks() == 2);
    CHECK(sum->bytes() == 6);

    iw::BidiStream<iwtest::ChatLine, iwtest::ChatLine> chat = host->Chat();
    iwtest::ChatLine line;
    line.set_text("hi");
    REQUIRE(chat.Write(line));
    iwtest::ChatLine answer;
    REQUIRE(chat.Next(&answer));
    CHECK(answer.text() == "HI");
    CHECK_THAT(chat.Finish(), IsOk());
  }
  CHECK(NoChildProcesses());
}

// Counts the hooks of host middleware and checks what a stream shows them.
class StreamAudit : public iw::HostMiddleware {
 public:
  absl::Status OnRequest(iw::HostCall& call) override {
    absl::MutexLock lock(&mu);
    ++requests;
    saw_request = call.request != nullptr;
    call.request_metadata.emplace("audit-id", "42");
    return absl::OkStatus();
  }
  void OnResponse(iw::HostCall& call, absl::Status& status) override {
    absl::MutexLock lock(&mu);
    ++responses;
    last_status = status;
    saw_response = call.response != nullptr;
  }
  absl::Mutex mu;
  int requests = 0;
  int responses = 0;
  bool saw_request = false;
  bool saw_response = true;
  absl::Status last_status;
};

TEST_CASE(
    "Host (both modes): host middleware runs once per stream, with the one request of a server "
    "stream",
    "[inprocess][e2e]") {
  const Mode mode = GENERATE(Mode::kSpawned, Mode::kInProcess);
  CAPTURE(mode);
  {
    auto audit = std::make_shared<StreamAudit>();
    iw::WorkerOptions options;
    options.middleware.push_back(audit);
    iwtest::TestHandler handler;
    auto host = StartHost(mode, handler, options);
    iwtest::CountRequest count;
    count.set_count(7);
    iw::ResponseStream<iwtest::CountReply> numbers = host->Count(count);
    int read = 0;
    for (const iwtest::CountReply& reply : numbers) {
      (void)reply;
      ++read;
    }
    CHECK(read == 7);
    CHECK_THAT(numbers.Finish(), IsOk());
    {
      absl::MutexLock lock(&audit->mu);
      CHECK(audit->requests == 1);
      CHECK(audit->responses == 1);
      CHECK(audit->saw_request);
      CHECK_FALSE(audit->saw_response);
      CHECK_THAT(audit->last_status, IsOk());
    }
    iw::BidiStream<iwtest::ChatLine, iwtest::ChatLine> chat = host->Chat();
    chat.CloseWrites();
    CHECK_THAT(chat.Finish(), IsOk());
    absl::MutexLock lock(&audit->mu);
    CHECK(audit->requests == 2);
    CHECK(audit->responses == 2);
    CHECK_FALSE(audit->saw_request);  // a bidi stream has no one request
  }
  CHECK(NoChildProcesses());
}

}  // namespace
