// W3C trace context from the host to the handler, over the carrier under
// test and in-process: per call, from host middleware, from a
// TracePropagator; validation; the worker's WorkerTracer and log records.
#include <algorithm>
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "catch2/catch.hpp"
#include "runtime/middleware.h"
#include "runtime/trace_context.h"
#include "tests/tracing/test_support.h"

namespace {

using iw::testing::IsOk;
using iw::testing::NoChildProcesses;
using iw::testing::StatusIs;
using iwtrace::Mode;
using iwtrace::ProbeReply;
using iwtrace::ProbeRequest;

iw::TraceContext W3cExample() {
  return iw::TraceContext{iwtrace::kTraceparent, iwtrace::kTracestate};
}

iw::CallOptions WithTrace(iw::TraceContext trace) {
  iw::CallOptions options;
  options.trace = std::move(trace);
  return options;
}

bool HasMetadata(const ProbeReply& reply, const std::string& entry) {
  return std::find(reply.metadata().begin(), reply.metadata().end(), entry) !=
         reply.metadata().end();
}

bool HasKey(const ProbeReply& reply, const std::string& key) {
  return std::any_of(reply.metadata().begin(), reply.metadata().end(),
                     [&](const std::string& e) { return absl::StartsWith(e, key + "="); });
}

// The handler saw exactly `trace` (and a WorkerTracer saw it too).
void CheckSaw(const ProbeReply& reply, const iw::TraceContext& trace) {
  CHECK(reply.traceparent() == trace.traceparent);
  CHECK(reply.tracestate() == trace.tracestate);
  CHECK(reply.tracer_saw() == trace.traceparent);
  CHECK(reply.scope_open());
  CHECK(reply.current_is_context());
  if (trace.empty()) {
    CHECK_FALSE(HasKey(reply, "traceparent"));
  } else {
    CHECK(HasMetadata(reply, "traceparent=" + trace.traceparent));
  }
}

TEST_CASE("Tracing: CallOptions::trace reaches CallContext::trace() of the handler",
          "[e2e][tracing]") {
  const Mode mode = GENERATE(Mode::kSpawned, Mode::kInProcess);
  CAPTURE(mode, iw::testing::TestTransportName());
  iwtrace::TraceHandler handler;
  auto host = iwtrace::StartHost(mode, handler, {});
  const iw::TraceContext trace = W3cExample();

  SECTION("a unary call, with its fields parsed") {
    auto reply = host->Probe(ProbeRequest(), WithTrace(trace));
    REQUIRE_THAT(reply.status(), IsOk());
    CheckSaw(*reply, trace);
    CHECK(reply->trace_id() == iwtrace::kTraceId);
    CHECK(reply->parent_id() == iwtrace::kParentId);
    CHECK(reply->sampled());
    CHECK(HasMetadata(*reply, absl::StrCat("tracestate=", iwtrace::kTracestate)));
  }
  SECTION("an async call") {
    absl::Notification done;
    absl::StatusOr<ProbeReply> result = absl::UnknownError("no reply");
    host->ProbeAsync(
        ProbeRequest(),
        [&](absl::StatusOr<ProbeReply> r) {
          result = std::move(r);
          done.Notify();
        },
        WithTrace(trace));
    REQUIRE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
    REQUIRE_THAT(result.status(), IsOk());
    CheckSaw(*result, trace);
  }
  SECTION("a server stream, each message of it") {
    auto stream = host->ProbeStream(ProbeRequest(), WithTrace(trace));
    ProbeReply reply;
    int n = 0;
    while (stream.Next(&reply)) {
      CheckSaw(reply, trace);
      ++n;
    }
    REQUIRE_THAT(stream.Finish(), IsOk());
    CHECK(n == 2);
  }
  SECTION("several calls at once, each with its own trace context") {
    std::vector<std::thread> callers;
    std::atomic<int> right{0};
    for (int i = 0; i < 8; ++i) {
      callers.emplace_back([&, i] {
        iw::TraceContext mine{
            absl::StrCat("00-4bf92f3577b34da6a3ce929d0e0e473", i, "-00f067aa0ba902b7-00"), ""};
        auto reply = host->Probe(ProbeRequest(), WithTrace(mine));
        if (reply.ok() && reply->traceparent() == mine.traceparent &&
            reply->tracer_saw() == mine.traceparent && !reply->sampled()) {
          ++right;
        }
      });
    }
    for (auto& t : callers) t.join();
    CHECK(right == 8);
  }
  SECTION("a call without one: the handler sees none, the tracer still runs") {
    auto reply = host->Probe(ProbeRequest());
    REQUIRE_THAT(reply.status(), IsOk());
    CheckSaw(*reply, iw::TraceContext());
    CHECK(reply->trace_id().empty());
    CHECK_FALSE(reply->request_id().empty());
  }
  host.reset();
  CHECK(NoChildProcesses());
}

// A host middleware that records the trace context it was given and sends
// its own span as the parent (as an OpenTelemetry client span would).
class ClientSpan final : public iw::HostMiddleware {
 public:
  absl::Status OnRequest(iw::HostCall& call) override {
    absl::MutexLock lock(&mu_);
    seen_.push_back(call.trace.traceparent);
    if (replace_with_.has_value()) call.trace = *replace_with_;
    if (add_stale_metadata_) call.request_metadata.emplace("traceparent", kStale);
    return absl::OkStatus();
  }
  std::vector<std::string> seen() {
    absl::MutexLock lock(&mu_);
    return seen_;
  }
  std::optional<iw::TraceContext> replace_with_;
  bool add_stale_metadata_ = false;
  static constexpr char kStale[] = "00-11111111111111111111111111111111-2222222222222222-01";

 private:
  absl::Mutex mu_;
  std::vector<std::string> seen_;
};

// A TracePropagator returning a fixed value, counting its calls and noting
// the threads that asked.
class FixedPropagator final : public iw::TracePropagator {
 public:
  explicit FixedPropagator(std::optional<iw::TraceContext> value) : value_(std::move(value)) {}
  std::optional<iw::TraceContext> Current() override {
    absl::MutexLock lock(&mu_);
    ++calls_;
    threads_.push_back(std::this_thread::get_id());
    return value_;
  }
  int calls() {
    absl::MutexLock lock(&mu_);
    return calls_;
  }
  std::vector<std::thread::id> threads() {
    absl::MutexLock lock(&mu_);
    return threads_;
  }

 private:
  const std::optional<iw::TraceContext> value_;
  absl::Mutex mu_;
  int calls_ = 0;
  std::vector<std::thread::id> threads_;
};

constexpr char kPropagated[] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
constexpr char kClientSpan[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-a3ce929d0e0e4736-01";

TEST_CASE("Tracing: host middleware sees the call's trace context and may replace it",
          "[e2e][tracing]") {
  const Mode mode = GENERATE(Mode::kSpawned, Mode::kInProcess);
  CAPTURE(mode, iw::testing::TestTransportName());
  auto span = std::make_shared<ClientSpan>();
  iw::WorkerOptions options;
  options.middleware.push_back(span);
  iwtrace::TraceHandler handler;
  auto host = iwtrace::StartHost(mode, handler, options);

  SECTION("left alone, the per-call value is sent") {
    auto reply = host->Probe(ProbeRequest(), WithTrace(W3cExample()));
    REQUIRE_THAT(reply.status(), IsOk());
    CheckSaw(*reply, W3cExample());
    CHECK(span->seen() == std::vector<std::string>{iwtrace::kTraceparent});
  }
  SECTION("replaced, the middleware's value is sent, for unary calls and streams") {
    span->replace_with_ = iw::TraceContext{kClientSpan, "mw=1"};
    auto reply = host->Probe(ProbeRequest(), WithTrace(W3cExample()));
    REQUIRE_THAT(reply.status(), IsOk());
    CheckSaw(*reply, *span->replace_with_);
    auto stream = host->ProbeStream(ProbeRequest());
    ProbeReply streamed;
    REQUIRE(stream.Next(&streamed));
    CheckSaw(streamed, *span->replace_with_);
    while (stream.Next(&streamed)) {
    }
    CHECK_THAT(stream.Finish(), IsOk());
    CHECK(span->seen() == std::vector<std::string>{iwtrace::kTraceparent, ""});
  }
  SECTION("HostCall::trace replaces 'traceparent' and 'tracestate' entries of the metadata") {
    span->replace_with_ = iw::TraceContext{kClientSpan, ""};
    span->add_stale_metadata_ = true;
    auto reply = host->Probe(ProbeRequest(), WithTrace(W3cExample()));
    REQUIRE_THAT(reply.status(), IsOk());
    auto count = [&](const std::string& prefix) {
      return std::count_if(reply->metadata().begin(), reply->metadata().end(),
                           [&](const std::string& e) { return absl::StartsWith(e, prefix); });
    };
    CHECK(count("tracestate=") == 0);
    CHECK(count("traceparent=") == 1);
    CHECK(HasMetadata(*reply, absl::StrCat("traceparent=", kClientSpan)));
  }
  SECTION("an invalid value fails the call with INVALID_ARGUMENT naming the problem") {
    span->replace_with_ =
        iw::TraceContext{"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", ""};
    auto reply = host->Probe(ProbeRequest());
    CHECK_THAT(reply.status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                        "invalid trace context (HostCall::trace): traceparent: "
                                        "parent id is all zeros"));
    span->replace_with_.reset();
    auto next = host->Probe(ProbeRequest());
    REQUIRE_THAT(next.status(), IsOk());
    CHECK(next->calls_before() == 0);  // the failed call never reached the worker
  }
  host.reset();
  CHECK(NoChildProcesses());
}

TEST_CASE("Tracing: a TracePropagator gives the trace context of calls that set none",
          "[e2e][tracing]") {
  const Mode mode = GENERATE(Mode::kSpawned, Mode::kInProcess);
  CAPTURE(mode, iw::testing::TestTransportName());
  iwtrace::TraceHandler handler;
  iw::WorkerOptions options;

  SECTION(
      "a call without CallOptions::trace carries the propagator's, asked on the caller's "
      "thread") {
    auto propagator = std::make_shared<FixedPropagator>(iw::TraceContext{kPropagated, ""});
    options.trace_propagator = propagator;
    auto host = iwtrace::StartHost(mode, handler, options);
    auto reply = host->Probe(ProbeRequest());
    REQUIRE_THAT(reply.status(), IsOk());
    CheckSaw(*reply, iw::TraceContext{kPropagated, ""});
    // A streaming call opened on a framework thread still asks here.
    absl::Notification done;
    std::vector<ProbeReply> streamed;
    host->ProbeStreamAsync(
        ProbeRequest(), [&](ProbeReply r) { streamed.push_back(std::move(r)); },
        [&](absl::Status) { done.Notify(); });
    REQUIRE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
    REQUIRE(streamed.size() == 2);
    CheckSaw(streamed[0], iw::TraceContext{kPropagated, ""});
    CHECK(propagator->calls() == 2);
    for (std::thread::id id : propagator->threads()) CHECK(id == std::this_thread::get_id());
  }
  SECTION("CallOptions::trace wins, and the propagator is not asked") {
    auto propagator = std::make_shared<FixedPropagator>(iw::TraceContext{kPropagated, ""});
    options.trace_propagator = propagator;
    auto host = iwtrace::StartHost(mode, handler, options);
    auto reply = host->Probe(ProbeRequest(), WithTrace(W3cExample()));
    REQUIRE_THAT(reply.status(), IsOk());
    CheckSaw(*reply, W3cExample());
    auto none = host->Probe(ProbeRequest(), WithTrace(iw::TraceContext()));
    REQUIRE_THAT(none.status(), IsOk());
    CheckSaw(*none, iw::TraceContext());
    CHECK(propagator->calls() == 0);
  }
  SECTION("middleware sees the propagator's value, and what it sets wins") {
    options.trace_propagator = std::make_shared<FixedPropagator>(iw::TraceContext{kPropagated, ""});
    auto span = std::make_shared<ClientSpan>();
    span->replace_with_ = iw::TraceContext{kClientSpan, ""};
    options.middleware.push_back(span);
    auto host = iwtrace::StartHost(mode, handler, options);
    auto reply = host->Probe(ProbeRequest());
    REQUIRE_THAT(reply.status(), IsOk());
    CheckSaw(*reply, iw::TraceContext{kClientSpan, ""});
    CHECK(span->seen() == std::vector<std::string>{kPropagated});
  }
  SECTION("an invalid value from the propagator is ignored: the call goes without one") {
    auto propagator = std::make_shared<FixedPropagator>(
        iw::TraceContext{"00-00000000000000000000000000000000-b7ad6b7169203331-01", ""});
    options.trace_propagator = propagator;
    auto host = iwtrace::StartHost(mode, handler, options);
    auto reply = host->Probe(ProbeRequest());
    REQUIRE_THAT(reply.status(), IsOk());
    CheckSaw(*reply, iw::TraceContext());
    CHECK(propagator->calls() == 1);
  }
  SECTION("no value from the propagator: none is sent") {
    options.trace_propagator = std::make_shared<FixedPropagator>(std::nullopt);
    auto host = iwtrace::StartHost(mode, handler, options);
    auto reply = host->Probe(ProbeRequest());
    REQUIRE_THAT(reply.status(), IsOk());
    CheckSaw(*reply, iw::TraceContext());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE(
    "Tracing: an invalid CallOptions::trace fails the call with INVALID_ARGUMENT before "
    "anything is sent",
    "[e2e][tracing]") {
  const Mode mode = GENERATE(Mode::kSpawned, Mode::kInProcess);
  CAPTURE(mode, iw::testing::TestTransportName());
  iwtrace::TraceHandler handler;
  auto host = iwtrace::StartHost(mode, handler, {});
  struct Case {
    iw::TraceContext trace;
    const char* problem;
  };
  const Case c = GENERATE(
      Case{{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", ""},
           "traceparent: trace id is all zeros"},
      Case{{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", ""},
           "trace id \"4BF92F3577B34DA6A3CE929D0E0E4736\" is not 32 lowercase hex digits"},
      Case{{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", ""}, "expected 55 characters"},
      Case{{"", "rojo=00f067aa0ba902b7"}, "tracestate: given without a traceparent"},
      Case{{iwtrace::kTraceparent, "rojo"}, "tracestate: member \"rojo\" is not key=value"});
  CAPTURE(c.trace.traceparent, c.trace.tracestate);
  SECTION("a unary call") {
    auto reply = host->Probe(ProbeRequest(), WithTrace(c.trace));
    CHECK_THAT(reply.status(), StatusIs(absl::StatusCode::kInvalidArgument,
                                        "iwtrace.TraceTest.Probe: CallOptions::trace: "));
    CHECK_THAT(reply.status(), StatusIs(absl::StatusCode::kInvalidArgument, c.problem));
  }
  SECTION("a stream") {
    auto stream = host->ProbeStream(ProbeRequest(), WithTrace(c.trace));
    ProbeReply reply;
    CHECK_FALSE(stream.Next(&reply));
    CHECK_THAT(stream.Finish(), StatusIs(absl::StatusCode::kInvalidArgument, c.problem));
  }
  auto next = host->Probe(ProbeRequest());
  REQUIRE_THAT(next.status(), IsOk());
  CHECK(next->calls_before() == 0);
  host.reset();
  CHECK(NoChildProcesses());
}

TEST_CASE(
    "Tracing: a record logged on the handler's thread carries the call's request id and "
    "trace id",
    "[e2e][tracing][logging]") {
  const Mode mode = GENERATE(Mode::kSpawned, Mode::kInProcess);
  CAPTURE(mode, iw::testing::TestTransportName());
  iwtrace::Records records;
  iw::WorkerOptions options;
  options.log_sink = records.Sink();
  options.log_level = iw::LogLevel::kInfo;
  // The spawned worker prints its records on stderr (its own sink, see
  // trace_worker.cc); captured, they come to this host's sink.
  options.stderr_mode = iw::OutputMode::kCapture;
  iwtrace::TraceHandler handler;
  auto host = iwtrace::StartHost(mode, handler, options);
  ProbeRequest request;
  request.set_log("hello from the handler");
  auto reply = host->Probe(request, WithTrace(W3cExample()));
  REQUIRE_THAT(reply.status(), IsOk());
  std::optional<iw::LogRecord> record = records.WaitFor("hello from the handler");
  REQUIRE(record.has_value());
  if (mode == Mode::kSpawned) {
    // "stderr: iw-record level=warning worker=TraceTest#N ... message=..."
    CHECK(absl::StrContains(record->message, "stderr: iw-record level=warning worker=TraceTest#"));
    CHECK(absl::StrContains(
        record->message,
        absl::StrCat(" request=", reply->request_id(), " trace=", iwtrace::kTraceId,
                     " span=", iwtrace::kParentId, " message=hello from the handler")));
  } else {
    CHECK(record->level == iw::LogLevel::kWarning);
    CHECK(absl::StrContains(record->worker_id, "(in-process)"));
    CHECK(record->request_id == reply->request_id());
    CHECK(record->trace_id == iwtrace::kTraceId);
    CHECK(record->span_id == iwtrace::kParentId);
  }
  // The WorkerTracer's scope saw the handler's status, still on its thread.
  std::optional<iw::LogRecord> ended = records.WaitFor("trace scope ended: OK");
  REQUIRE(ended.has_value());
  if (mode == Mode::kSpawned) {
    CHECK(absl::StrContains(ended->message, absl::StrCat(" trace=", iwtrace::kTraceId)));
  } else {
    CHECK(ended->trace_id == iwtrace::kTraceId);
  }
  host.reset();
  CHECK(NoChildProcesses());
}

TEST_CASE(
    "Tracing: the worker's record of a DEADLINE_REPLACE_WORKER overrun carries the call's "
    "trace id",
    "[e2e][tracing][logging]") {
  CAPTURE(iw::testing::TestTransportName());
  iwtrace::Records records;
  iw::WorkerOptions options;
  options.log_sink = records.Sink();
  options.log_level = iw::LogLevel::kInfo;
  options.stderr_mode = iw::OutputMode::kCapture;
  iwtrace::TraceHandler handler;
  auto host = iwtrace::StartHost(Mode::kSpawned, handler, options);
  ProbeRequest request;
  request.set_sleep_ms(3000);
  iw::CallOptions call = WithTrace(W3cExample());
  call.timeout = absl::Milliseconds(100);
  auto reply = host->Overrun(request, call);
  CHECK_THAT(reply.status(), StatusIs(absl::StatusCode::kDeadlineExceeded));
  std::optional<iw::LogRecord> record = records.WaitFor("was still running");
  REQUIRE(record.has_value());
  CHECK(absl::StrContains(record->message, "iw-record level=error"));
  CHECK(absl::StrContains(record->message, absl::StrCat(" trace=", iwtrace::kTraceId, " span=",
                                                        iwtrace::kParentId, " message=")));
  CHECK_FALSE(absl::StrContains(record->message, " request= "));
  host.reset();
  CHECK(NoChildProcesses());
}

TEST_CASE(
    "Tracing: the host's record of a crash-policy retry carries the call's request id and "
    "trace id",
    "[e2e][tracing][logging]") {
  const bool async = GENERATE(false, true);
  CAPTURE(iw::testing::TestTransportName(), async);
  iwtrace::Records records;
  iw::WorkerOptions options;
  options.log_sink = records.Sink();
  iwtrace::TraceHandler handler;
  auto host = iwtrace::StartHost(Mode::kSpawned, handler, options);
  ProbeRequest crash;
  crash.set_crash(true);
  absl::Status status;
  if (async) {
    absl::Notification done;
    host->RetriedAsync(
        crash,
        [&](absl::StatusOr<ProbeReply> r) {
          status = r.status();
          done.Notify();
        },
        WithTrace(W3cExample()));
    REQUIRE(done.WaitForNotificationWithTimeout(absl::Seconds(20)));
  } else {
    status = host->Retried(crash, WithTrace(W3cExample())).status();
  }
  CHECK_THAT(status, StatusIs(absl::StatusCode::kUnavailable, "(attempt 2 of 2)"));
  std::optional<iw::LogRecord> retry = records.WaitFor("retrying iwtrace.TraceTest.Retried");
  REQUIRE(retry.has_value());
  CHECK(retry->level == iw::LogLevel::kWarning);
  CHECK(retry->request_id.size() == 16);
  CHECK(retry->trace_id == iwtrace::kTraceId);
  CHECK(retry->span_id == iwtrace::kParentId);
  host.reset();
  CHECK(NoChildProcesses());
}

}  // namespace
