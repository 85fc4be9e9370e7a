// The Prometheus exporter without worker processes: hand-built HostMetrics
// through ToPrometheusFamilies() and prometheus::TextSerializer to exact
// exposition text, and the exporter's registrations (labels checked, series
// of two hosts apart, removal, either side going first). The path through a
// real host, real workers and a real HTTP scrape is
// examples/prometheus_metrics:prometheus_metrics_test.
#include "runtime/prometheus/prometheus_exporter.h"

#include <signal.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "catch2/catch.hpp"
#include "runtime/metrics.h"
#include "tests/testing/status_matchers.h"

namespace {

using iw::HostMetrics;
using iw::LabeledHostMetrics;
using iw::PrometheusExporter;
using iw::testing::IsOk;
using iw::testing::StatusIs;

std::string Text(const std::vector<prometheus::MetricFamily>& families) {
  return prometheus::TextSerializer().Serialize(families);
}

// The lines of `text` that start with `prefix`, joined with "\n".
std::string Lines(const std::string& text, const std::string& prefix) {
  std::string result;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    if (absl::StartsWith(line, prefix)) absl::StrAppend(&result, line, "\n");
    start = end + 1;
  }
  return result;
}

// One unary method: 3 calls (2 OK, 1 DEADLINE_EXCEEDED), one retry, one
// crash by SIGABRT; no workers (so no per-worker series).
HostMetrics SmallHost() {
  HostMetrics m;
  m.service = "demo.v1.Shop";
  m.start_time = absl::FromUnixSeconds(1700000000);
  iw::MethodMetrics method;
  method.method = "/demo.v1.Shop/Buy";
  method.calls_started = 4;
  method.calls_finished = 3;
  method.calls_by_code[0] = 2;
  method.calls_by_code[static_cast<int>(absl::StatusCode::kDeadlineExceeded)] = 1;
  method.calls_in_flight = 1;
  method.retries = 1;
  method.request_bytes = 120;
  method.response_bytes = 64;
  // call_time: 1 in (0.001, 0.0025], 2 in (0.25, 0.5]; the others empty.
  method.call_time.counts[5] = 1;
  method.call_time.counts[12] = 2;
  method.call_time.count = 3;
  method.call_time.sum_seconds = 0.75;
  m.methods.push_back(method);
  m.pool.workers_busy = 1;
  m.pool.workers_idle = 1;
  m.pool.workers_ready = 2;
  m.pool.workers_spawned = 3;
  m.pool.workers_crashed = 1;
  m.pool.crashes_by_cause["killed_by_signal"] = 1;
  m.pool.crashes_by_signal[SIGABRT] = 1;
  return m;
}

TEST_CASE("A hand-built snapshot becomes exactly this exposition text",
          "[prometheus][conversion]") {
  const std::string text = Text(iw::ToPrometheusFamilies({{SmallHost(), {{"host", "a"}}}}));
  const std::string labels = "service=\"demo.v1.Shop\",host=\"a\",method=\"Buy\"";
  CHECK(Lines(text, "iw_calls_") == "iw_calls_started_total{" + labels + "} 4\n" +          //
                                        "iw_calls_total{" + labels + ",code=\"OK\"} 2\n" +  //
                                        "iw_calls_total{" + labels +
                                        ",code=\"DEADLINE_EXCEEDED\"} 1\n" +        //
                                        "iw_calls_in_flight{" + labels + "} 1\n" +  //
                                        "iw_calls_queued{service=\"demo.v1.Shop\",host=\"a\"} 0\n");
  CHECK(Lines(text, "iw_call_retries_total") == "iw_call_retries_total{" + labels + "} 1\n");
  CHECK(Lines(text, "iw_request_bytes") == "iw_request_bytes_total{" + labels + "} 120\n");
  CHECK(Lines(text, "iw_response_bytes") == "iw_response_bytes_total{" + labels + "} 64\n");

  // Cumulative buckets over kLatencyBucketBounds, +Inf last, _count == +Inf.
  std::string call_seconds =
      "# HELP iw_call_seconds Per call: from the call to its final status "
      "(queue, attempts, backoff).\n"
      "# TYPE iw_call_seconds histogram\n"
      "iw_call_seconds_count{" +
      labels +
      "} 3\n"
      "iw_call_seconds_sum{" +
      labels + "} 0.75\n";
  const char* bounds[] = {"5e-05", "0.0001", "0.00025", "0.0005", "0.001", "0.0025",
                          "0.005", "0.01",   "0.025",   "0.05",   "0.1",   "0.25",
                          "0.5",   "1",      "2.5",     "5",      "10",    "30",
                          "60",    "120",    "300",     "+Inf"};
  for (int i = 0; i < 22; ++i) {
    const int cumulative = i < 5 ? 0 : i < 12 ? 1 : 3;
    absl::StrAppend(&call_seconds, "iw_call_seconds_bucket{", labels, ",le=\"", bounds[i], "\"} ",
                    cumulative, "\n");
  }
  CHECK(absl::StrContains(text, call_seconds));
  // The other histograms are there, empty.
  CHECK(absl::StrContains(text, "iw_attempt_seconds_count{" + labels + "} 0\n"));
  CHECK(absl::StrContains(text, "iw_handler_seconds_bucket{" + labels + ",le=\"+Inf\"} 0\n"));
  CHECK(absl::StrContains(text, "iw_queue_wait_seconds_sum{" + labels + "} 0\n"));

  const std::string pool = "service=\"demo.v1.Shop\",host=\"a\"";
  CHECK(Lines(text, "iw_workers{") == "iw_workers{" + pool + ",state=\"busy\"} 1\n" +  //
                                          "iw_workers{" + pool + ",state=\"idle\"} 1\n" +
                                          "iw_workers{" + pool + ",state=\"starting\"} 0\n" +
                                          "iw_workers{" + pool + ",state=\"draining\"} 0\n" +
                                          "iw_workers{" + pool + ",state=\"spare\"} 0\n");
  CHECK(Lines(text, "iw_worker_crash") ==
        "iw_worker_crashes_total{" + pool + ",cause=\"connection_lost\"} 0\n" +
            "iw_worker_crashes_total{" + pool + ",cause=\"deadline_replacement\"} 0\n" +
            "iw_worker_crashes_total{" + pool + ",cause=\"exited\"} 0\n" +
            "iw_worker_crashes_total{" + pool + ",cause=\"killed_by_signal\"} 1\n" +
            "iw_worker_crashes_total{" + pool + ",cause=\"protocol_error\"} 0\n" +
            "iw_worker_crashes_total{" + pool + ",cause=\"unknown\"} 0\n" +
            "iw_worker_crash_signals_total{" + pool + ",signal=\"SIGABRT\"} 1\n");
  CHECK(Lines(text, "iw_workers_spawned_total") == "iw_workers_spawned_total{" + pool + "} 3\n");
  CHECK(Lines(text, "iw_host_start_time_seconds") ==
        "iw_host_start_time_seconds{" + pool + "} 1700000000\n");
  // No exit codes seen and no workers: no such family at all.
  CHECK_FALSE(absl::StrContains(text, "iw_worker_crash_exit_codes_total"));
  CHECK_FALSE(absl::StrContains(text, "iw_worker_calls_served_total"));
  // Each family once, whatever the number of hosts.
  CHECK(Lines(text, "# TYPE iw_calls_total ") == "# TYPE iw_calls_total counter\n");
}

TEST_CASE("Per-worker series carry the worker's name and pid; /proc usage only once read",
          "[prometheus][conversion]") {
  HostMetrics m;
  m.service = "demo.v1.Shop";
  iw::WorkerMetrics read;
  read.worker_id = "Shop#1 (pid 4242)";
  read.pid = 4242;
  read.calls_served = 7;
  read.calls_in_flight = 1;
  read.ready_since = absl::FromUnixSeconds(1700000100);
  read.rss_bytes = 10485760;
  read.cpu_user = absl::Milliseconds(1500);
  read.cpu_system = absl::Milliseconds(250);
  read.usage_read_at = absl::FromUnixSeconds(1700000200);
  iw::WorkerMetrics in_process;
  in_process.worker_id = "Shop (in-process)";
  in_process.calls_served = 2;
  m.workers = {read, in_process};
  const std::string text = Text(iw::ToPrometheusFamilies({{m, {}}}));

  const std::string w1 = "service=\"demo.v1.Shop\",worker=\"Shop#1\",pid=\"4242\"";
  const std::string w2 = "service=\"demo.v1.Shop\",worker=\"Shop (in-process)\",pid=\"\"";
  CHECK(Lines(text, "iw_worker_") ==
        "iw_worker_crashes_total{service=\"demo.v1.Shop\",cause=\"connection_lost\"} 0\n"
        "iw_worker_crashes_total{service=\"demo.v1.Shop\",cause=\"deadline_replacement\"} 0\n"
        "iw_worker_crashes_total{service=\"demo.v1.Shop\",cause=\"exited\"} 0\n"
        "iw_worker_crashes_total{service=\"demo.v1.Shop\",cause=\"killed_by_signal\"} 0\n"
        "iw_worker_crashes_total{service=\"demo.v1.Shop\",cause=\"protocol_error\"} 0\n"
        "iw_worker_crashes_total{service=\"demo.v1.Shop\",cause=\"unknown\"} 0\n"
        "iw_worker_calls_served_total{" +
            w1 + "} 7\n" + "iw_worker_calls_served_total{" + w2 + "} 2\n" +
            "iw_worker_calls_in_flight{" + w1 + "} 1\n" + "iw_worker_calls_in_flight{" + w2 +
            "} 0\n" + "iw_worker_ready_time_seconds{" + w1 + "} 1700000100\n" +
            "iw_worker_resident_memory_bytes{" + w1 + "} 10485760\n" +
            "iw_worker_cpu_seconds_total{" + w1 + ",mode=\"user\"} 1.5\n" +
            "iw_worker_cpu_seconds_total{" + w1 + ",mode=\"system\"} 0.25\n");
}

TEST_CASE("Streaming methods have no attempt or handler histograms", "[prometheus][conversion]") {
  HostMetrics m;
  m.service = "demo.v1.Feed";
  iw::MethodMetrics stream;
  stream.method = "/demo.v1.Feed/Watch";
  stream.streaming = true;
  m.methods.push_back(stream);
  const std::string text = Text(iw::ToPrometheusFamilies({{m, {}}}));
  CHECK(
      absl::StrContains(text, "iw_call_seconds_count{service=\"demo.v1.Feed\",method=\"Watch\"}"));
  CHECK(absl::StrContains(text, "iw_queue_wait_seconds_count{"));
  CHECK_FALSE(absl::StrContains(text, "iw_attempt_seconds"));
  CHECK_FALSE(absl::StrContains(text, "iw_handler_seconds"));
}

TEST_CASE("Two hosts of one service are told apart by their constant labels, in one family",
          "[prometheus][exporter]") {
  PrometheusExporter exporter;
  HostMetrics a = SmallHost();
  HostMetrics b = SmallHost();
  b.methods[0].calls_started = 9;
  auto first = exporter.Add([&a] { return a; }, {{"host", "a"}});
  REQUIRE_THAT(first.status(), IsOk());
  // Same service, same labels: the series would collide.
  CHECK_THAT(exporter.Add([&b] { return b; }, {{"host", "a"}}).status(),
             StatusIs(absl::StatusCode::kAlreadyExists, "give each host a distinct constant"));
  auto second = exporter.Add([&b] { return b; }, {{"host", "b"}});
  REQUIRE_THAT(second.status(), IsOk());
  CHECK(exporter.size() == 2);

  std::string text = Text(exporter.Collect());
  CHECK(Lines(text, "iw_calls_started_total") ==
        "iw_calls_started_total{service=\"demo.v1.Shop\",host=\"a\",method=\"Buy\"} 4\n"
        "iw_calls_started_total{service=\"demo.v1.Shop\",host=\"b\",method=\"Buy\"} 9\n");
  CHECK(Lines(text, "# TYPE iw_calls_started_total") == "# TYPE iw_calls_started_total counter\n");

  // Read at each scrape: a later snapshot shows.
  b.methods[0].calls_started = 10;
  first->Remove();
  CHECK_FALSE(first->active());
  CHECK(exporter.size() == 1);
  text = Text(exporter.Collect());
  CHECK(Lines(text, "iw_calls_started_total") ==
        "iw_calls_started_total{service=\"demo.v1.Shop\",host=\"b\",method=\"Buy\"} 10\n");

  // Its destructor removes it too; nothing left, no family.
  { PrometheusExporter::Registration gone = std::move(*second); }
  CHECK(exporter.size() == 0);
  CHECK(exporter.Collect().empty());
}

TEST_CASE("A registration may outlive its exporter", "[prometheus][exporter]") {
  auto exporter = std::make_unique<PrometheusExporter>();
  auto registration = exporter->Add([] { return SmallHost(); });
  REQUIRE_THAT(registration.status(), IsOk());
  exporter.reset();
  registration->Remove();  // nothing to do, nothing touched
  CHECK_FALSE(registration->active());
}

TEST_CASE("Remove() waits for a scrape that is reading the host", "[prometheus][exporter]") {
  PrometheusExporter exporter;
  absl::Notification scraping, release;
  std::atomic<bool> in_source{false};
  std::atomic<int> calls{0};
  auto registration = exporter.Add([&] {
    if (calls.fetch_add(1) == 1) {  // the scrape's call, not Add()'s
      in_source = true;
      scraping.Notify();
      REQUIRE(release.WaitForNotificationWithTimeout(absl::Seconds(30)));
      in_source = false;
    }
    return SmallHost();
  });
  REQUIRE_THAT(registration.status(), IsOk());
  std::thread scrape([&] { exporter.Collect(); });
  REQUIRE(scraping.WaitForNotificationWithTimeout(absl::Seconds(30)));
  bool in_source_after_remove = true;
  std::thread remover([&] {
    registration->Remove();
    in_source_after_remove = in_source;
  });
  release.Notify();
  remover.join();
  scrape.join();
  // Had Remove() not waited, it could have returned while the source ran.
  CHECK_FALSE(in_source_after_remove);
  CHECK(calls == 2);
}

TEST_CASE("Constant labels must be label names and not the exporter's own",
          "[prometheus][exporter]") {
  PrometheusExporter exporter;
  auto source = [] { return SmallHost(); };
  CHECK_THAT(exporter.Add(source, {{"service", "x"}}).status(),
             StatusIs(absl::StatusCode::kInvalidArgument, "one of the exporter's own labels"));
  CHECK_THAT(exporter.Add(source, {{"le", "x"}}).status(),
             StatusIs(absl::StatusCode::kInvalidArgument, "one of the exporter's own labels"));
  CHECK_THAT(exporter.Add(source, {{"bad-name", "x"}}).status(),
             StatusIs(absl::StatusCode::kInvalidArgument, "not a Prometheus label name"));
  CHECK_THAT(exporter.Add(source, {{"__reserved", "x"}}).status(),
             StatusIs(absl::StatusCode::kInvalidArgument, "not a Prometheus label name"));
  CHECK_THAT(exporter.Add(PrometheusExporter::MetricsSource()).status(),
             StatusIs(absl::StatusCode::kInvalidArgument, "empty MetricsSource"));
  CHECK(exporter.size() == 0);
}

}  // namespace
