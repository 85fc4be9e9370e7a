// Per-host logging: each host's records (its workers' crashes, their
// captured output, its in-process worker's records) go to its own sink
// (WorkerOptions::log_sink); only a host without one uses the process-wide
// sink.
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "catch2/catch.hpp"
#include "runtime/logging.h"
#include "tests/tracing/test_support.h"

namespace {

using iw::testing::IsOk;
using iw::testing::NoChildProcesses;
using iw::testing::StatusIs;
using iwtrace::Mode;
using iwtrace::ProbeRequest;
using iwtrace::Records;

// Sets the process-wide sink for the test's life, then restores the default.
class GlobalSink {
 public:
  GlobalSink() { iw::SetLogSink(records.Sink(), iw::LogLevel::kInfo); }
  ~GlobalSink() { iw::SetLogSink(nullptr); }
  Records records;
};

iw::WorkerOptions Capturing(Records* records) {
  iw::WorkerOptions options;
  if (records != nullptr) options.log_sink = records->Sink();
  options.log_level = iw::LogLevel::kInfo;
  options.stdout_mode = iw::OutputMode::kCapture;
  options.stderr_mode = iw::OutputMode::kCapture;
  return options;
}

ProbeRequest Print(const std::string& line) {
  ProbeRequest request;
  request.set_print(line);
  request.set_log(line + " (logged)");
  return request;
}

std::set<std::string> WorkerIds(Records& records) {
  std::set<std::string> ids;
  for (const iw::LogRecord& r : records.Snapshot()) ids.insert(r.worker_id);
  return ids;
}

bool Mentions(Records& records, const std::string& text) {
  return records.Any([&](const iw::LogRecord& r) { return absl::StrContains(r.message, text); });
}

TEST_CASE(
    "Logging: two hosts with their own sinks each get only their own records, the "
    "process-wide sink only those of a host without one",
    "[e2e][logging]") {
  CAPTURE(iw::testing::TestTransportName());
  GlobalSink global;
  Records a, b;
  iwtrace::TraceHandler handler;  // unused by spawned hosts
  auto host_a = iwtrace::StartHost(Mode::kSpawned, handler, Capturing(&a));
  auto host_b = iwtrace::StartHost(Mode::kSpawned, handler, Capturing(&b));
  auto host_c = iwtrace::StartHost(Mode::kSpawned, handler, Capturing(nullptr));

  REQUIRE_THAT(host_a->Probe(Print("output of A")).status(), IsOk());
  REQUIRE_THAT(host_b->Probe(Print("output of B")).status(), IsOk());
  REQUIRE_THAT(host_c->Probe(Print("output of C")).status(), IsOk());
  ProbeRequest crash;
  crash.set_crash(true);
  CHECK_THAT(host_a->Probe(crash).status(), StatusIs(absl::StatusCode::kUnavailable));
  CHECK_THAT(host_b->Probe(crash).status(), StatusIs(absl::StatusCode::kUnavailable));

  // Captured stdout, and the worker's own records on its stderr.
  CHECK(a.WaitFor("stdout: output of A").has_value());
  CHECK(a.WaitFor("message=output of A (logged)").has_value());
  CHECK(a.WaitFor("crashed").has_value());
  CHECK(b.WaitFor("stdout: output of B").has_value());
  CHECK(b.WaitFor("crashed").has_value());
  CHECK(global.records.WaitFor("stdout: output of C").has_value());
  CHECK(global.records.WaitFor("message=output of C (logged)").has_value());

  CHECK_FALSE(Mentions(a, "of B"));
  CHECK_FALSE(Mentions(a, "of C"));
  CHECK_FALSE(Mentions(b, "of A"));
  CHECK_FALSE(Mentions(b, "of C"));
  CHECK_FALSE(Mentions(global.records, "of A"));
  CHECK_FALSE(Mentions(global.records, "of B"));
  CHECK_FALSE(Mentions(global.records, "crashed"));
  // No worker of A or B appears in another sink.
  const std::set<std::string> ids_a = WorkerIds(a), ids_b = WorkerIds(b),
                              ids_global = WorkerIds(global.records);
  for (const std::string& id : ids_a) {
    CAPTURE(id);
    CHECK(ids_b.count(id) == 0);
    CHECK(ids_global.count(id) == 0);
  }
  for (const std::string& id : ids_b) {
    CAPTURE(id);
    CHECK(ids_global.count(id) == 0);
  }
  host_a.reset();
  host_b.reset();
  host_c.reset();
  CHECK(NoChildProcesses());
}

TEST_CASE(
    "Logging: an in-process host's sink gets its worker side's records, handler ones "
    "included",
    "[e2e][logging]") {
  GlobalSink global;
  Records own;
  iwtrace::TraceHandler handler_d, handler_e;
  auto host_d = iwtrace::StartHost(Mode::kInProcess, handler_d, Capturing(&own));
  auto host_e = iwtrace::StartHost(Mode::kInProcess, handler_e, Capturing(nullptr));
  REQUIRE_THAT(host_d->Probe(Print("handler of D")).status(), IsOk());
  REQUIRE_THAT(host_e->Probe(Print("handler of E")).status(), IsOk());
  CHECK(own.WaitFor("handler of D (logged)").has_value());
  CHECK(global.records.WaitFor("handler of E (logged)").has_value());
  CHECK_FALSE(Mentions(own, "of E"));
  CHECK_FALSE(Mentions(global.records, "of D"));
  // The host's own records ("ready") too.
  CHECK(own.Any([&](const iw::LogRecord& r) {
    return r.message == "ready" && absl::StrContains(r.worker_id, "(in-process)");
  }));
}

}  // namespace
