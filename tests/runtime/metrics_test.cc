// The metrics' building blocks: histogram buckets ("le" bounds), quantile
// estimates, snapshots of the recorders and MetricsDelta.
#include "runtime/metrics.h"

#include "absl/time/time.h"
#include "catch2/catch.hpp"
#include "runtime/codegen_support/service_info.h"
#include "runtime/host/call_metrics.h"

namespace {

using iw::HostMetrics;
using iw::kLatencyBucketBounds;
using iw::LatencyHistogram;
using iw::internal::CallMetrics;
using iw::internal::HistogramCell;

LatencyHistogram Snapshot(const HistogramCell& cell) {
  LatencyHistogram histogram;
  cell.Snapshot(&histogram);
  return histogram;
}

TEST_CASE("A duration equal to a bucket's bound counts in that bucket, one above it in the next",
          "[metrics]") {
  HistogramCell cell;
  cell.Record(absl::Microseconds(50));    // == 0.00005: bucket 0
  cell.Record(absl::Nanoseconds(50001));  // just above: bucket 1
  cell.Record(absl::ZeroDuration());      // bucket 0
  cell.Record(absl::Seconds(1));          // == 1: bucket of bound 1
  cell.Record(absl::Minutes(10));         // above 300 s: the unbounded bucket
  cell.Record(-absl::Seconds(1));         // clock went back: counted as 0
  const LatencyHistogram h = Snapshot(cell);
  CHECK(h.count == 6);
  CHECK(h.counts[0] == 3);
  CHECK(h.counts[1] == 1);
  size_t one_second = 0;
  while (kLatencyBucketBounds[one_second] != 1) ++one_second;
  CHECK(h.counts[one_second] == 1);
  CHECK(h.counts.back() == 1);
  CHECK(h.sum_seconds == Approx(0.00005 + 0.000050001 + 1 + 600));
}

TEST_CASE("Quantiles interpolate inside the bucket that holds them", "[metrics]") {
  LatencyHistogram h;
  CHECK(h.Quantile(0.5) == 0);  // empty
  CHECK(h.Mean() == 0);
  // 10 observations in (0.001, 0.0025], 10 in (0.0025, 0.005].
  h.counts[5] = 10;
  h.counts[6] = 10;
  h.count = 20;
  h.sum_seconds = 0.05;
  REQUIRE(kLatencyBucketBounds[4] == 0.001);
  REQUIRE(kLatencyBucketBounds[5] == 0.0025);
  REQUIRE(kLatencyBucketBounds[6] == 0.005);
  CHECK(h.Quantile(0.25) == Approx(0.00175));  // half-way through bucket 5
  CHECK(h.Quantile(0.5) == Approx(0.0025));
  CHECK(h.Quantile(1.0) == Approx(0.005));
  CHECK(h.Quantile(0) == Approx(0.001));
  CHECK(h.Mean() == Approx(0.0025));
  // Everything above the last bound: the last bound is the best estimate.
  LatencyHistogram slow;
  slow.counts.back() = 3;
  slow.count = 3;
  CHECK(slow.Quantile(0.99) == kLatencyBucketBounds.back());
}

constexpr iw::codegen::MethodInfo kMethods[] = {
    {"Add", "/demo.Calc/Add"},
    {"Watch", "/demo.Calc/Watch", 0, 0, -1, 0, 0, false, false, true},
};
constexpr iw::codegen::ServiceInfo kService = {"demo.Calc", kMethods, 2};

TEST_CASE("A snapshot names each method and counts finished calls by code", "[metrics]") {
  CallMetrics metrics(kService);
  metrics.method(0).Started();
  metrics.method(0).Started();
  metrics.method(0).Started();
  metrics.method(0).Finished(absl::StatusCode::kOk, absl::Milliseconds(2));
  metrics.method(0).Finished(absl::StatusCode::kDeadlineExceeded, absl::Seconds(2));
  metrics.method(0).Sent(10);
  metrics.method(0).Received(4);
  metrics.method(0).WorkerTime(1500);
  metrics.method(1).Retried();
  HostMetrics snapshot;
  metrics.Snapshot(&snapshot);
  CHECK(snapshot.service == "demo.Calc");
  CHECK(snapshot.start_time == metrics.start_time());
  REQUIRE(snapshot.methods.size() == 2);
  const iw::MethodMetrics& add = snapshot.methods[0];
  CHECK(add.method == "/demo.Calc/Add");
  CHECK_FALSE(add.streaming);
  CHECK(snapshot.methods[1].streaming);
  CHECK(add.calls_started == 3);
  CHECK(add.calls_finished == 2);
  CHECK(add.calls_in_flight == 1);
  CHECK(add.calls_by_code[0] == 1);
  CHECK(add.calls_by_code[static_cast<int>(absl::StatusCode::kDeadlineExceeded)] == 1);
  CHECK(add.call_time.count == 2);
  CHECK(add.call_time.sum_seconds == Approx(2.002));
  CHECK(add.request_bytes == 10);
  CHECK(add.response_bytes == 4);
  CHECK(add.handler_time.count == 1);
  CHECK(add.handler_time.sum_seconds == Approx(0.0015));
  CHECK(snapshot.methods[1].retries == 1);
  CHECK(snapshot.Method("Add") == &snapshot.methods[0]);
  CHECK(snapshot.Method("/demo.Calc/Watch") == &snapshot.methods[1]);
  CHECK(snapshot.Method("Ad") == nullptr);
  CHECK(snapshot.Method("Missing") == nullptr);
}

TEST_CASE("MetricsDelta subtracts counters and histograms and keeps the later gauges",
          "[metrics]") {
  CallMetrics metrics(kService);
  metrics.method(0).Started();
  metrics.method(0).Finished(absl::StatusCode::kOk, absl::Milliseconds(1));
  HostMetrics earlier;
  metrics.Snapshot(&earlier);
  earlier.taken = absl::FromUnixSeconds(100);
  earlier.pool.workers_crashed = 1;
  earlier.pool.crashes_by_cause["exited"] = 1;
  earlier.pool.workers_ready = 4;

  metrics.method(0).Started();
  metrics.method(0).Started();
  metrics.method(0).Finished(absl::StatusCode::kInternal, absl::Milliseconds(30));
  HostMetrics later;
  metrics.Snapshot(&later);
  later.taken = absl::FromUnixSeconds(160);
  later.pool.workers_crashed = 3;
  later.pool.crashes_by_cause["exited"] = 1;
  later.pool.crashes_by_cause["killed_by_signal"] = 2;
  later.pool.workers_ready = 2;

  const HostMetrics delta = iw::MetricsDelta(later, earlier);
  CHECK(delta.start_time == absl::FromUnixSeconds(100));
  CHECK(delta.taken == absl::FromUnixSeconds(160));
  const iw::MethodMetrics& add = delta.methods[0];
  CHECK(add.calls_started == 2);
  CHECK(add.calls_finished == 1);
  CHECK(add.calls_in_flight == 1);  // a gauge: later's
  CHECK(add.calls_by_code[0] == 0);
  CHECK(add.calls_by_code[static_cast<int>(absl::StatusCode::kInternal)] == 1);
  CHECK(add.call_time.count == 1);
  CHECK(add.call_time.sum_seconds == Approx(0.03));
  CHECK(delta.pool.workers_crashed == 2);
  CHECK(delta.pool.crashes_by_cause == std::map<std::string, int64_t>{{"killed_by_signal", 2}});
  CHECK(delta.pool.workers_ready == 2);
}

}  // namespace
