// Middleware, metadata, request ids, error details and framework logging,
// through real worker processes (and one in-process worker).
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "catch2/catch.hpp"
#include "runtime/logging.h"
#include "tests/middleware/middleware_handler.h"
#include "tests/testing/carrier.h"
#include "tests/testing/process_hygiene.h"
#include "tests/testing/status_matchers.h"

namespace {

using iw::testing::IsOk;
using iw::testing::NoChildProcesses;
using iw::testing::StatusIs;
using iwmw::MwReply;
using iwmw::MwRequest;
using iwmw::MwTestHost;

// What the host chain saw; shared by its steps.
struct Journal {
  absl::Mutex mu;
  std::vector<std::string> order;
  std::vector<std::string> request_ids;
  iw::Metadata response_metadata;
  // Per-test behaviour of step N: "fail", "throw", "throwresp".
  std::string action;
  int action_step = 0;
};

class HostStep final : public iw::HostMiddleware {
 public:
  HostStep(int n, std::shared_ptr<Journal> journal) : n_(n), journal_(std::move(journal)) {}

  absl::Status OnRequest(iw::HostCall& call) override {
    {
      absl::MutexLock lock(&journal_->mu);
      journal_->order.push_back(absl::StrCat("h", n_, "-req"));
      if (n_ == 1) journal_->request_ids.push_back(call.request_id);
    }
    if (journal_->action_step == n_ && journal_->action == "fail") {
      return absl::PermissionDeniedError(absl::StrCat("host middleware ", n_, " refused"));
    }
    if (journal_->action_step == n_ && journal_->action == "throw") {
      throw std::runtime_error("host boom");
    }
    if (n_ == 1) {
      auto* request = static_cast<MwRequest*>(call.request);
      request->set_text(absl::StrCat(request->text(), "+h1"));
    }
    if (n_ == 2) call.request_metadata.emplace("x-in", "hello");
    return absl::OkStatus();
  }

  void OnResponse(iw::HostCall& call, absl::Status& status) override {
    absl::MutexLock lock(&journal_->mu);
    journal_->order.push_back(absl::StrCat("h", n_, "-resp"));
    if (journal_->action_step == n_ && journal_->action == "throwresp") {
      throw std::logic_error("late host boom");
    }
    if (n_ == 1) {
      journal_->response_metadata = call.response_metadata;
      if (status.ok()) {
        auto* reply = static_cast<MwReply*>(call.response);
        reply->set_text(absl::StrCat(reply->text(), "+h1resp"));
      }
    }
  }

 private:
  const int n_;
  std::shared_ptr<Journal> journal_;
};

iw::WorkerOptions Options(const std::shared_ptr<Journal>& journal) {
  iw::WorkerOptions options = iw::testing::CarrierOptions();
  options.executable = iw::testing::RunfilePath("tests/middleware/middleware_worker");
  for (int n = 1; n <= 3; ++n) options.middleware.push_back(std::make_shared<HostStep>(n, journal));
  return options;
}

std::vector<std::string> Values(const iw::Metadata& metadata, const std::string& key) {
  std::vector<std::string> values;
  auto [begin, end] = metadata.equal_range(key);
  for (auto it = begin; it != end; ++it) values.push_back(it->second);
  return values;
}

MwRequest Text(const std::string& text) {
  MwRequest request;
  request.set_text(text);
  return request;
}

const std::vector<std::string> kHostOnion = {"h1-req",  "h2-req",  "h3-req",
                                             "h3-resp", "h2-resp", "h1-resp"};
const std::vector<std::string> kWorkerOnion = {"w1-req",  "w2-req",  "w3-req",
                                               "w3-resp", "w2-resp", "w1-resp"};

TEST_CASE("three-step chains run in onion order on both sides and modify the call") {
  auto journal = std::make_shared<Journal>();
  {
    auto host = MwTestHost::Spawn(Options(journal));
    REQUIRE_THAT(host.status(), IsOk());
    absl::StatusOr<MwReply> reply = (*host)->Echo(Text("abc"));
    REQUIRE_THAT(reply.status(), IsOk());
    // h1 and w2 changed the request; w2 and h1 the reply.
    CHECK(reply->text() == "abc+h1+w2+w2resp+h1resp");
    absl::MutexLock lock(&journal->mu);
    CHECK(journal->order == kHostOnion);
    CHECK(Values(journal->response_metadata, "x-order") == kWorkerOnion);
    // Host → worker → host.
    CHECK(std::vector<std::string>(reply->metadata().begin(), reply->metadata().end()) ==
          std::vector<std::string>{"x-in=hello"});
    CHECK(Values(journal->response_metadata, "x-out") == std::vector<std::string>{"hello"});
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("async calls run the same chain") {
  auto journal = std::make_shared<Journal>();
  {
    auto host = MwTestHost::Spawn(Options(journal));
    REQUIRE_THAT(host.status(), IsOk());
    absl::Notification done;
    absl::StatusOr<MwReply> result;
    (*host)->EchoAsync(Text("x"), [&](absl::StatusOr<MwReply> reply) {
      result = std::move(reply);
      done.Notify();
    });
    REQUIRE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
    REQUIRE_THAT(result.status(), IsOk());
    CHECK(result->text() == "x+h1+w2+w2resp+h1resp");
    absl::MutexLock lock(&journal->mu);
    CHECK(journal->order == kHostOnion);
    CHECK(Values(journal->response_metadata, "x-order") == kWorkerOnion);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("request ids are visible on both sides and differ per call") {
  auto journal = std::make_shared<Journal>();
  {
    auto host = MwTestHost::Spawn(Options(journal));
    REQUIRE_THAT(host.status(), IsOk());
    absl::StatusOr<MwReply> first = (*host)->Echo(Text("1"));
    absl::StatusOr<MwReply> second = (*host)->Echo(Text("2"));
    REQUIRE_THAT(first.status(), IsOk());
    REQUIRE_THAT(second.status(), IsOk());
    absl::MutexLock lock(&journal->mu);
    REQUIRE(journal->request_ids.size() == 2);
    CHECK(first->request_id() == journal->request_ids[0]);
    CHECK(second->request_id() == journal->request_ids[1]);
    CHECK(first->request_id().size() == 16);
    CHECK(first->request_id() != second->request_id());
  }
  {
    // Without any middleware too.
    iw::WorkerOptions plain = iw::testing::CarrierOptions();
    plain.executable = iw::testing::RunfilePath("tests/middleware/middleware_worker");
    auto host = MwTestHost::Spawn(plain);
    REQUIRE_THAT(host.status(), IsOk());
    absl::StatusOr<MwReply> reply = (*host)->Echo(Text("1"));
    REQUIRE_THAT(reply.status(), IsOk());
    CHECK(reply->request_id().size() == 16);
    CHECK(reply->text() == "1+w2+w2resp");
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("a host middleware short-circuits without reaching the worker") {
  auto journal = std::make_shared<Journal>();
  journal->action = "fail";
  journal->action_step = 2;
  {
    auto host = MwTestHost::Spawn(Options(journal));
    REQUIRE_THAT(host.status(), IsOk());
    absl::StatusOr<MwReply> reply = (*host)->Echo(Text("abc"));
    CHECK_THAT(reply.status(),
               StatusIs(absl::StatusCode::kPermissionDenied, "host middleware 2 refused"));
    absl::MutexLock lock(&journal->mu);
    CHECK(journal->order == std::vector<std::string>{"h1-req", "h2-req", "h1-resp"});
    CHECK(journal->response_metadata.empty());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("a worker middleware short-circuits without reaching the handler") {
  auto journal = std::make_shared<Journal>();
  {
    auto host = MwTestHost::Spawn(Options(journal));
    REQUIRE_THAT(host.status(), IsOk());
    MwRequest request = Text("abc");
    request.set_worker_action("fail:2");
    absl::StatusOr<MwReply> reply = (*host)->Echo(request);
    CHECK_THAT(reply.status(),
               StatusIs(absl::StatusCode::kFailedPrecondition, "worker middleware 2 refused"));
    absl::MutexLock lock(&journal->mu);
    CHECK(Values(journal->response_metadata, "x-order") ==
          std::vector<std::string>{"w1-req", "w2-req", "w1-resp"});
    CHECK(Values(journal->response_metadata, "x-handler").empty());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("a failing middleware fails only its call, on either side") {
  auto journal = std::make_shared<Journal>();
  {
    auto host = MwTestHost::Spawn(Options(journal));
    REQUIRE_THAT(host.status(), IsOk());
    const absl::Time start = absl::Now();

    journal->action = "throw";
    journal->action_step = 3;
    CHECK_THAT((*host)->Echo(Text("a")).status(),
               StatusIs(absl::StatusCode::kInternal,
                        "host middleware #3 threw std::runtime_error: host boom"));
    journal->action = "throwresp";
    journal->action_step = 2;
    CHECK_THAT((*host)->Echo(Text("a")).status(),
               StatusIs(absl::StatusCode::kInternal,
                        "host middleware #2 threw std::logic_error: late host boom"));
    journal->action.clear();

    for (const char* action : {"throw:2", "throwresp:3"}) {
      MwRequest request = Text("a");
      request.set_worker_action(action);
      absl::StatusOr<MwReply> reply = (*host)->Echo(request);
      CHECK_THAT(reply.status(), StatusIs(absl::StatusCode::kInternal, "worker middleware #"));
      CHECK_THAT(reply.status(),
                 StatusIs(absl::StatusCode::kInternal, "threw std::runtime_error: "));
    }
    // The worker replied at once (no wait for a timeout) and still serves.
    CHECK(absl::Now() - start < absl::Seconds(5));
    absl::StatusOr<MwReply> next = (*host)->Echo(Text("b"));
    CHECK_THAT(next.status(), IsOk());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("handler errors carry structured details; exceptions become INTERNAL") {
  auto journal = std::make_shared<Journal>();
  {
    auto host = MwTestHost::Spawn(Options(journal));
    REQUIRE_THAT(host.status(), IsOk());
    MwRequest request = Text("a");
    request.set_fail_code(static_cast<int>(absl::StatusCode::kNotFound));
    absl::StatusOr<MwReply> reply = (*host)->Echo(request);
    CHECK_THAT(reply.status(), StatusIs(absl::StatusCode::kNotFound, "the handler refused"));
    std::optional<iwmw::ErrorDetail> detail = iw::GetDetails<iwmw::ErrorDetail>(reply.status());
    REQUIRE(detail.has_value());
    CHECK(detail->field() == "text");
    CHECK(detail->retry_after_ms() == 42);
    CHECK_FALSE(iw::GetDetails<MwReply>(reply.status()).has_value());

    const int pid = (*host)->pid();
    request = Text("a");
    request.set_throw_exception(true);
    reply = (*host)->Echo(request);
    CHECK_THAT(reply.status(),
               StatusIs(absl::StatusCode::kInternal, "threw std::runtime_error: handler exploded"));
    absl::StatusOr<MwReply> next = (*host)->Echo(Text("b"));
    REQUIRE_THAT(next.status(), IsOk());
    CHECK(next->pid() == pid);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("in-process workers run WorkerOptions::worker_middleware") {
  auto journal = std::make_shared<Journal>();
  iwmw::MwHandler handler;
  {
    iw::WorkerOptions options = Options(journal);
    options.worker_middleware = iwmw::WorkerChain();
    auto host = MwTestHost::InProcess(handler, options);
    REQUIRE_THAT(host.status(), IsOk());
    absl::StatusOr<MwReply> reply = (*host)->Echo(Text("abc"));
    REQUIRE_THAT(reply.status(), IsOk());
    CHECK(reply->text() == "abc+h1+w2+w2resp+h1resp");
    CHECK(reply->request_id().size() == 16);
    absl::MutexLock lock(&journal->mu);
    CHECK(Values(journal->response_metadata, "x-order") == kWorkerOnion);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("framework events reach the log sink at their levels") {
  struct Sink {
    absl::Mutex mu;
    std::vector<iw::LogRecord> records;
    bool Has(iw::LogLevel level, const std::string& text) {
      absl::MutexLock lock(&mu);
      for (const auto& r : records) {
        if (r.level == level && !r.worker_id.empty() &&
            (absl::StrContains(r.message, text) || absl::StrContains(r.worker_id, text))) {
          return true;
        }
      }
      return false;
    }
    // Records may arrive just after the call that caused them returns.
    bool WaitFor(iw::LogLevel level, const std::string& text) {
      const absl::Time deadline = absl::Now() + absl::Seconds(10);
      while (!Has(level, text)) {
        if (absl::Now() > deadline) return false;
        absl::SleepFor(absl::Milliseconds(5));
      }
      return true;
    }
  };
  auto sink = std::make_shared<Sink>();
  iw::SetLogSink(
      [sink](const iw::LogRecord& record) {
        absl::MutexLock lock(&sink->mu);
        sink->records.push_back(record);
      },
      iw::LogLevel::kDebug);
  {
    iw::WorkerOptions options = iw::testing::CarrierOptions();
    options.executable = iw::testing::RunfilePath("tests/middleware/middleware_worker");
    options.stderr_mode = iw::OutputMode::kDiscard;
    auto host = MwTestHost::Spawn(options);
    REQUIRE_THAT(host.status(), IsOk());
    CHECK(sink->Has(iw::LogLevel::kDebug, "spawned"));
    CHECK(sink->Has(iw::LogLevel::kInfo, "ready"));
    MwRequest crash = Text("x");
    crash.set_crash(true);
    CHECK_THAT((*host)->Echo(crash).status(), StatusIs(absl::StatusCode::kUnavailable));
    CHECK(sink->WaitFor(iw::LogLevel::kError, "exit code 3"));
    // The replacement is logged, then serves.
    CHECK(sink->WaitFor(iw::LogLevel::kInfo, "replacing crashed worker"));
    CHECK_THAT((*host)->Echo(Text("y")).status(), IsOk());
    CHECK_THAT((*host)->Close(), IsOk());
  }
  iw::SetLogSink(nullptr);
  CHECK(NoChildProcesses());
}

}  // namespace
