// -----------------------------------------------------------------------------
// File: prometheus_exporter.h
// -----------------------------------------------------------------------------
//
// Optional Prometheus integration (prometheus-cpp 1.0.1, Debian's
// prometheus-cpp-dev): `iw::PrometheusExporter` is a `prometheus::Collectable`
// that, at each scrape, takes a `Metrics()` snapshot (metrics.h) of every host
// registered with it and converts it to Prometheus metric families: exact
// values, nothing recorded twice, no thread of its own. The core runtime does
// not depend on prometheus-cpp; only this library (Bazel
// //runtime/prometheus, CMake IsolatedWorkers::prometheus) does.
//
// Where to register it: prometheus-cpp 1.0.1's `prometheus::Registry` takes
// no foreign Collectable (it only makes its own Counter/Gauge/... families),
// so the exporter sits next to your registry on the same endpoint: both
// `prometheus::Exposer::RegisterCollectable` and `prometheus::Gateway::
// RegisterCollectable` take any number of collectables per URI and serve
// their families together.
//
// Example (examples/prometheus_metrics/ has a complete program):
//
//   prometheus::Exposer exposer("127.0.0.1:9464");
//   auto exporter = std::make_shared<iw::PrometheusExporter>();
//   exposer.RegisterCollectable(exporter);       // GET /metrics
//
//   std::unique_ptr<ResizerHost> host = ...;     // generated host, a pool
//   absl::StatusOr<iw::PrometheusExporter::Registration> registration =
//       exporter->Add(*host, {{"host", "thumbnails-1"}});
//   if (!registration.ok()) return registration.status();
//   ...
//   registration->Remove();   // before `host` goes away (or let it go out of scope)
//
// Metrics (docs/prometheus.md lists each with its HostMetrics field). Every
// series has the label `service` ("pkg.Service") and the registration's
// constant labels; `method` is the method's name ("Resize").
//
//   iw_calls_started_total{method}            counter    MethodMetrics::calls_started
//   iw_calls_total{method,code}               counter    calls_by_code; code "OK",
//                                                        "DEADLINE_EXCEEDED", ... ("OK"
//                                                        always, other codes once seen)
//   iw_calls_in_flight{method}                gauge
//   iw_call_retries_total{method}             counter
//   iw_request_bytes_total{method}            counter
//   iw_response_bytes_total{method}           counter
//   iw_queue_wait_seconds{method}             histogram  queue_wait (per attempt)
//   iw_attempt_seconds{method}                histogram  run_time (per attempt; unary)
//   iw_handler_seconds{method}                histogram  handler_time (unary)
//   iw_call_seconds{method}                   histogram  call_time (per call)
//   iw_workers{state}                         gauge      state: busy, idle, starting,
//                                                        draining, spare (they sum to
//                                                        all worker processes; ready
//                                                        is busy + idle)
//   iw_calls_queued                           gauge
//   iw_workers_spawned_total                  counter
//   iw_spawn_failures_total                   counter
//   iw_worker_crashes_total{cause}            counter    "exited", "killed_by_signal",
//                                                        ... (all six always present)
//   iw_worker_crash_signals_total{signal}     counter    signal "SIGABRT", ...
//   iw_worker_crash_exit_codes_total{exit_code} counter
//   iw_workers_recycled_total                 counter
//   iw_spares_promoted_total                  counter
//   iw_spares_died_total                      counter
//   iw_host_start_time_seconds                gauge      start_time, Unix seconds
//   per live worker, labels worker ("Resizer#3") and pid ("" if none):
//   iw_worker_calls_served_total              counter
//   iw_worker_calls_in_flight                 gauge
//   iw_worker_ready_time_seconds              gauge      ready_since, Unix seconds
//   iw_worker_resident_memory_bytes           gauge      rss_bytes  } only when read
//   iw_worker_cpu_seconds_total{mode}         counter    mode user, } from /proc
//                                                        system     } (usage_read_at)
//
// Histograms have the buckets of `kLatencyBucketBounds` (seconds) and
// +Inf, cumulative, as Prometheus expects; `_count` is the +Inf bucket.

#ifndef IW_RUNTIME_PROMETHEUS_PROMETHEUS_EXPORTER_H_
#define IW_RUNTIME_PROMETHEUS_PROMETHEUS_EXPORTER_H_

// First: a clear message when the compiler is not in C++17 mode.
#include "runtime/requirements.h"

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include <prometheus/collectable.h>
#include <prometheus/labels.h>
#include <prometheus/metric_family.h>

#include "absl/status/statusor.h"
#include "runtime/host.h"
#include "runtime/metrics.h"

namespace iw {

// One host's snapshot and the constant labels of its series.
struct LabeledHostMetrics {
  HostMetrics metrics;
  prometheus::Labels labels;
};

// The conversion the exporter does at each scrape, for those who serialize
// or push themselves (prometheus::TextSerializer, prometheus::Gateway). One
// family per metric name, whatever the number of hosts (the exposition
// format wants each name once); families without a sample are left out.
// Label sets must differ between hosts of the same service (the exporter's
// Add() checks that; this function does not).
std::vector<prometheus::MetricFamily> ToPrometheusFamilies(
    const std::vector<LabeledHostMetrics>& hosts);

// A Collectable over any number of hosts. Thread-safe: scrapes (Collect(),
// from the exposer's threads), Add() and Remove() may run concurrently.
class PrometheusExporter final : public prometheus::Collectable {
 private:
  struct State;

 public:
  // What Add() reads at each scrape.
  using MetricsSource = std::function<HostMetrics()>;

  // A host registered with an exporter; removing it (Remove() or the
  // destructor) takes the host's series out of the next scrapes.
  //
  // LIFETIME: the exporter calls `host.Metrics()` until the registration is
  // removed, so remove it BEFORE the host is destroyed (declare it after the
  // host, or call Remove() first). Remove() waits for a scrape that is
  // reading the host, so once it returns the host is never touched again.
  // Do not remove a registration from inside a MetricsSource (it would wait
  // for itself). A registration may outlive its exporter (it then does
  // nothing).
  class Registration {
   public:
    Registration() = default;  // registers nothing
    Registration(Registration&& other) noexcept;
    Registration& operator=(Registration&& other) noexcept;
    Registration(const Registration&) = delete;
    Registration& operator=(const Registration&) = delete;
    ~Registration() { Remove(); }

    // Idempotent.
    void Remove();
    // False once removed (or if default-constructed or moved from).
    bool active() const { return state_ != nullptr; }

   private:
    friend class PrometheusExporter;
    Registration(std::shared_ptr<State> state, uint64_t id) : state_(std::move(state)), id_(id) {}

    std::shared_ptr<State> state_;
    uint64_t id_ = 0;
  };

  PrometheusExporter();
  ~PrometheusExporter() override;
  PrometheusExporter(const PrometheusExporter&) = delete;
  PrometheusExporter& operator=(const PrometheusExporter&) = delete;

  // Registers `host`: its series carry `constant_labels` (e.g.
  // {{"host", "frontend-1"}}) besides their own, so that two hosts of the
  // same service can be told apart. Takes one snapshot at once (for the
  // service name). Errors:
  //   INVALID_ARGUMENT  a label name that is not a Prometheus label name
  //                     ([a-zA-Z_][a-zA-Z0-9_]*, not "__..."), or one of the
  //                     exporter's own: service, method, code, state, cause,
  //                     signal, exit_code, worker, pid, mode, le;
  //   ALREADY_EXISTS    a host of the same service with the same constant
  //                     labels is registered (their series would collide).
  // See Registration for the lifetime rule.
  absl::StatusOr<Registration> Add(const HostBase& host, prometheus::Labels constant_labels = {});
  // The same for any snapshot source (a wrapper, a host of another kind, a
  // test): called once now and at each scrape, from the scraping thread.
  absl::StatusOr<Registration> Add(MetricsSource source, prometheus::Labels constant_labels = {});

  // The number of registered hosts.
  int size() const;

  // prometheus::Collectable: one snapshot per registered host, converted
  // with ToPrometheusFamilies().
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  std::shared_ptr<State> state_;
};

}  // namespace iw

#endif  // IW_RUNTIME_PROMETHEUS_PROMETHEUS_EXPORTER_H_
