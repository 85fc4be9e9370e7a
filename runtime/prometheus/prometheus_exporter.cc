#include "runtime/prometheus/prometheus_exporter.h"

#include <string.h>

#include <array>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include <prometheus/check_names.h>
#include <prometheus/client_metric.h>
#include <prometheus/metric_type.h>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace iw {

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;

// The label names the exporter sets itself; constant labels may not use them.
constexpr std::array<absl::string_view, 11> kOwnLabels = {
    "service",   "method", "code", "state", "cause", "signal",
    "exit_code", "worker", "pid",  "mode",  "le"};

// Every cause WorkerCrash::Cause names (metrics.h, PoolMetrics::crashes_by_cause):
// exported even at 0, so that rate() has a starting point.
constexpr std::array<const char*, 6> kCrashCauses = {
    "exited",         "killed_by_signal", "deadline_replacement",
    "protocol_error", "connection_lost",  "unknown"};

// "Resize" of "/pkg.Service/Resize" (or the name itself).
std::string MethodName(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// "Resizer#3" of "Resizer#3 (pid 4242)": the pid has a label of its own.
std::string WorkerName(const WorkerMetrics& worker) {
  absl::string_view id = worker.worker_id;
  const std::string suffix = absl::StrCat(" (pid ", worker.pid, ")");
  if (worker.pid != 0 && absl::EndsWith(id, suffix)) id.remove_suffix(suffix.size());
  return std::string(id);
}

std::string SignalLabel(int signal) {
  const char* abbrev = ::sigabbrev_np(signal);
  return abbrev != nullptr ? absl::StrCat("SIG", abbrev) : absl::StrCat(signal);
}

double UnixSeconds(absl::Time time) { return absl::ToDoubleSeconds(time - absl::UnixEpoch()); }

// The families in the order they are exported, by name, each with its samples
// of every host.
class FamilyBuilder {
 public:
  // Declares a family (in exposition order).
  void Declare(const char* name, const char* help, MetricType type) {
    index_.emplace(name, families_.size());
    families_.push_back(MetricFamily{name, help, type, {}});
  }

  void Counter(const char* name, const std::vector<ClientMetric::Label>& labels, double value) {
    ClientMetric& metric = Add(name, labels);
    metric.counter.value = value;
  }
  void Gauge(const char* name, const std::vector<ClientMetric::Label>& labels, double value) {
    ClientMetric& metric = Add(name, labels);
    metric.gauge.value = value;
  }
  // Non-cumulative LatencyHistogram counts to cumulative buckets with "le".
  // `_count` is the +Inf bucket (the sum of the counts), so the two agree
  // even if a snapshot saw an observation in `count` and not yet in its
  // bucket.
  void Histogram(const char* name, const std::vector<ClientMetric::Label>& labels,
                 const LatencyHistogram& histogram) {
    ClientMetric& metric = Add(name, labels);
    uint64_t cumulative = 0;
    for (size_t i = 0; i < histogram.counts.size(); ++i) {
      cumulative += static_cast<uint64_t>(histogram.counts[i]);
      const double bound = i < kLatencyBucketBounds.size()
                               ? kLatencyBucketBounds[i]
                               : std::numeric_limits<double>::infinity();
      metric.histogram.bucket.push_back(ClientMetric::Bucket{cumulative, bound});
    }
    metric.histogram.sample_count = cumulative;
    metric.histogram.sample_sum = histogram.sum_seconds;
  }

  // The declared families that got a sample.
  std::vector<MetricFamily> Take() && {
    std::vector<MetricFamily> result;
    for (MetricFamily& family : families_) {
      if (!family.metric.empty()) result.push_back(std::move(family));
    }
    return result;
  }

 private:
  ClientMetric& Add(const char* name, const std::vector<ClientMetric::Label>& labels) {
    MetricFamily& family = families_[index_.at(name)];
    family.metric.emplace_back();
    family.metric.back().label = labels;
    return family.metric.back();
  }

  std::vector<MetricFamily> families_;
  std::map<std::string, size_t> index_;
};

// `base` (service and constant labels) plus the metric's own labels.
std::vector<ClientMetric::Label> With(const std::vector<ClientMetric::Label>& base,
                                      std::initializer_list<ClientMetric::Label> own) {
  std::vector<ClientMetric::Label> labels = base;
  labels.insert(labels.end(), own.begin(), own.end());
  return labels;
}

void DeclareFamilies(FamilyBuilder& b) {
  // Per method.
  b.Declare("iw_calls_started_total", "Calls (and streams) started by callers.",
            MetricType::Counter);
  b.Declare("iw_calls_total", "Calls (and streams) finished, by final status code (after retries).",
            MetricType::Counter);
  b.Declare("iw_calls_in_flight", "Calls started and not finished.", MetricType::Gauge);
  b.Declare("iw_call_retries_total",
            "Attempts after the first (CrashPolicy kRetry re-sending a call lost with its "
            "worker).",
            MetricType::Counter);
  b.Declare("iw_request_bytes_total", "Serialized request bytes sent to workers (every attempt).",
            MetricType::Counter);
  b.Declare("iw_response_bytes_total", "Serialized response bytes received from workers.",
            MetricType::Counter);
  b.Declare("iw_queue_wait_seconds", "Per attempt: time waiting for a free worker.",
            MetricType::Histogram);
  b.Declare("iw_attempt_seconds",
            "Per attempt sent to a worker (unary): from sending to the reply or failure, "
            "host clock.",
            MetricType::Histogram);
  b.Declare("iw_handler_seconds",
            "Per attempt a worker answered (unary): time in worker middleware and the handler, "
            "worker clock.",
            MetricType::Histogram);
  b.Declare("iw_call_seconds",
            "Per call: from the call to its final status (queue, attempts, backoff).",
            MetricType::Histogram);
  // Per pool.
  b.Declare("iw_workers",
            "Worker processes by state (busy, idle, starting, draining, spare; they sum to "
            "all).",
            MetricType::Gauge);
  b.Declare("iw_calls_queued", "Calls waiting for a free worker.", MetricType::Gauge);
  b.Declare("iw_workers_spawned_total", "Workers that became ready.", MetricType::Counter);
  b.Declare("iw_spawn_failures_total", "Worker starts that failed.", MetricType::Counter);
  b.Declare("iw_worker_crashes_total", "Workers that died on their own, by cause.",
            MetricType::Counter);
  b.Declare("iw_worker_crash_signals_total", "Workers killed by a signal, by signal.",
            MetricType::Counter);
  b.Declare("iw_worker_crash_exit_codes_total", "Workers that exited on their own, by exit code.",
            MetricType::Counter);
  b.Declare("iw_workers_recycled_total", "Workers replaced gracefully (recycling).",
            MetricType::Counter);
  b.Declare("iw_spares_promoted_total", "Warm spares that replaced a worker or grew the pool.",
            MetricType::Counter);
  b.Declare("iw_spares_died_total", "Warm spares that died idle.", MetricType::Counter);
  b.Declare("iw_host_start_time_seconds", "When the host started, Unix time.", MetricType::Gauge);
  // Per worker.
  b.Declare("iw_worker_calls_served_total", "Calls that finished on the worker.",
            MetricType::Counter);
  b.Declare("iw_worker_calls_in_flight", "Calls on the worker now.", MetricType::Gauge);
  b.Declare("iw_worker_ready_time_seconds", "When the worker became ready, Unix time.",
            MetricType::Gauge);
  b.Declare("iw_worker_resident_memory_bytes", "Resident memory of the worker process.",
            MetricType::Gauge);
  b.Declare("iw_worker_cpu_seconds_total", "CPU time of the worker process, by mode.",
            MetricType::Counter);
}

void AddHost(const LabeledHostMetrics& host, FamilyBuilder& b) {
  const HostMetrics& m = host.metrics;
  std::vector<ClientMetric::Label> base = {{"service", m.service}};
  for (const auto& [name, value] : host.labels) base.push_back({name, value});

  for (const MethodMetrics& method : m.methods) {
    const std::vector<ClientMetric::Label> labels =
        With(base, {{"method", MethodName(method.method)}});
    b.Counter("iw_calls_started_total", labels, static_cast<double>(method.calls_started));
    for (size_t code = 0; code < method.calls_by_code.size(); ++code) {
      if (code != 0 && method.calls_by_code[code] == 0) continue;
      b.Counter(
          "iw_calls_total",
          With(labels, {{"code", absl::StatusCodeToString(static_cast<absl::StatusCode>(code))}}),
          static_cast<double>(method.calls_by_code[code]));
    }
    b.Gauge("iw_calls_in_flight", labels, static_cast<double>(method.calls_in_flight));
    b.Counter("iw_call_retries_total", labels, static_cast<double>(method.retries));
    b.Counter("iw_request_bytes_total", labels, static_cast<double>(method.request_bytes));
    b.Counter("iw_response_bytes_total", labels, static_cast<double>(method.response_bytes));
    b.Histogram("iw_queue_wait_seconds", labels, method.queue_wait);
    if (!method.streaming) {
      b.Histogram("iw_attempt_seconds", labels, method.run_time);
      b.Histogram("iw_handler_seconds", labels, method.handler_time);
    }
    b.Histogram("iw_call_seconds", labels, method.call_time);
  }

  const PoolMetrics& pool = m.pool;
  const std::pair<const char*, int> states[] = {{"busy", pool.workers_busy},
                                                {"idle", pool.workers_idle},
                                                {"starting", pool.workers_starting},
                                                {"draining", pool.workers_draining},
                                                {"spare", pool.spare_workers}};
  for (const auto& [state, count] : states) {
    b.Gauge("iw_workers", With(base, {{"state", state}}), count);
  }
  b.Gauge("iw_calls_queued", base, pool.calls_queued);
  b.Counter("iw_workers_spawned_total", base, static_cast<double>(pool.workers_spawned));
  b.Counter("iw_spawn_failures_total", base, static_cast<double>(pool.spawn_failures));
  std::map<std::string, int64_t> crashes = pool.crashes_by_cause;
  for (const char* cause : kCrashCauses) crashes.emplace(cause, 0);
  for (const auto& [cause, count] : crashes) {
    b.Counter("iw_worker_crashes_total", With(base, {{"cause", cause}}),
              static_cast<double>(count));
  }
  for (const auto& [signal, count] : pool.crashes_by_signal) {
    b.Counter("iw_worker_crash_signals_total", With(base, {{"signal", SignalLabel(signal)}}),
              static_cast<double>(count));
  }
  for (const auto& [exit_code, count] : pool.crashes_by_exit_code) {
    b.Counter("iw_worker_crash_exit_codes_total",
              With(base, {{"exit_code", absl::StrCat(exit_code)}}), static_cast<double>(count));
  }
  b.Counter("iw_workers_recycled_total", base, static_cast<double>(pool.workers_recycled));
  b.Counter("iw_spares_promoted_total", base, static_cast<double>(pool.spares_promoted));
  b.Counter("iw_spares_died_total", base, static_cast<double>(pool.spares_died));
  if (m.start_time != absl::Time() && m.start_time != absl::InfinitePast()) {
    b.Gauge("iw_host_start_time_seconds", base, UnixSeconds(m.start_time));
  }

  for (const WorkerMetrics& worker : m.workers) {
    const std::vector<ClientMetric::Label> labels =
        With(base, {{"worker", WorkerName(worker)},
                    {"pid", worker.pid != 0 ? absl::StrCat(worker.pid) : std::string()}});
    b.Counter("iw_worker_calls_served_total", labels, static_cast<double>(worker.calls_served));
    b.Gauge("iw_worker_calls_in_flight", labels, worker.calls_in_flight);
    if (worker.ready_since != absl::Time() && worker.ready_since != absl::InfinitePast()) {
      b.Gauge("iw_worker_ready_time_seconds", labels, UnixSeconds(worker.ready_since));
    }
    if (worker.usage_read_at != absl::InfinitePast()) {
      b.Gauge("iw_worker_resident_memory_bytes", labels, static_cast<double>(worker.rss_bytes));
      b.Counter("iw_worker_cpu_seconds_total", With(labels, {{"mode", "user"}}),
                absl::ToDoubleSeconds(worker.cpu_user));
      b.Counter("iw_worker_cpu_seconds_total", With(labels, {{"mode", "system"}}),
                absl::ToDoubleSeconds(worker.cpu_system));
    }
  }
}

absl::Status CheckConstantLabels(const prometheus::Labels& labels) {
  for (const auto& [name, value] : labels) {
    if (!prometheus::CheckLabelName(name) || absl::StartsWith(name, "__")) {
      return absl::InvalidArgumentError(absl::StrCat(
          "PrometheusExporter::Add: constant label \"", name,
          "\" is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)"));
    }
    for (absl::string_view own : kOwnLabels) {
      if (name == own) {
        return absl::InvalidArgumentError(absl::StrCat(
            "PrometheusExporter::Add: constant label \"", name,
            "\" is one of the exporter's own labels (", absl::StrJoin(kOwnLabels, ", "), ")"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<prometheus::MetricFamily> ToPrometheusFamilies(
    const std::vector<LabeledHostMetrics>& hosts) {
  FamilyBuilder builder;
  DeclareFamilies(builder);
  for (const LabeledHostMetrics& host : hosts) AddHost(host, builder);
  return std::move(builder).Take();
}

// Shared by the exporter and its registrations, so that either may go first.
struct PrometheusExporter::State {
  struct Entry {
    uint64_t id;
    std::string service;
    prometheus::Labels labels;
    MetricsSource source;
  };

  // Held while a scrape reads the sources: Remove() waits for it.
  mutable absl::Mutex mu;
  std::vector<Entry> entries ABSL_GUARDED_BY(mu);
  uint64_t next_id ABSL_GUARDED_BY(mu) = 1;
};

PrometheusExporter::Registration::Registration(Registration&& other) noexcept
    : state_(std::move(other.state_)), id_(other.id_) {
  other.state_ = nullptr;
}

PrometheusExporter::Registration& PrometheusExporter::Registration::operator=(
    Registration&& other) noexcept {
  if (this != &other) {
    Remove();
    state_ = std::move(other.state_);
    other.state_ = nullptr;
    id_ = other.id_;
  }
  return *this;
}

void PrometheusExporter::Registration::Remove() {
  if (state_ == nullptr) return;
  {
    absl::MutexLock lock(&state_->mu);
    std::vector<State::Entry>& entries = state_->entries;
    for (auto it = entries.begin(); it != entries.end(); ++it) {
      if (it->id == id_) {
        entries.erase(it);
        break;
      }
    }
  }
  state_ = nullptr;
}

PrometheusExporter::PrometheusExporter() : state_(std::make_shared<State>()) {}

PrometheusExporter::~PrometheusExporter() = default;

absl::StatusOr<PrometheusExporter::Registration> PrometheusExporter::Add(
    MetricsSource source, prometheus::Labels constant_labels) {
  if (!source) {
    return absl::InvalidArgumentError("PrometheusExporter::Add: empty MetricsSource");
  }
  if (absl::Status status = CheckConstantLabels(constant_labels); !status.ok()) return status;
  std::string service = source().service;
  absl::MutexLock lock(&state_->mu);
  for (const State::Entry& entry : state_->entries) {
    if (entry.service == service && entry.labels == constant_labels) {
      std::vector<std::string> labels;
      for (const auto& [name, value] : constant_labels) {
        labels.push_back(absl::StrCat(name, "=\"", value, "\""));
      }
      return absl::AlreadyExistsError(
          absl::StrCat("PrometheusExporter::Add: a host of service ", service,
                       " with the constant labels {", absl::StrJoin(labels, ","),
                       "} is registered already; give each host a distinct constant label (e.g. "
                       "{{\"host\", \"...\"}})"));
    }
  }
  const uint64_t id = state_->next_id++;
  state_->entries.push_back(
      State::Entry{id, std::move(service), std::move(constant_labels), std::move(source)});
  return Registration(state_, id);
}

absl::StatusOr<PrometheusExporter::Registration> PrometheusExporter::Add(
    const HostBase& host, prometheus::Labels constant_labels) {
  return Add([&host] { return host.Metrics(); }, std::move(constant_labels));
}

int PrometheusExporter::size() const {
  absl::MutexLock lock(&state_->mu);
  return static_cast<int>(state_->entries.size());
}

std::vector<prometheus::MetricFamily> PrometheusExporter::Collect() const {
  std::vector<LabeledHostMetrics> hosts;
  {
    // Sources are called under the lock: a Remove() that returned has no
    // scrape left reading its host.
    absl::MutexLock lock(&state_->mu);
    hosts.reserve(state_->entries.size());
    for (const State::Entry& entry : state_->entries) {
      hosts.push_back(LabeledHostMetrics{entry.source(), entry.labels});
    }
  }
  return ToPrometheusFamilies(hosts);
}

}  // namespace iw
