#include "runtime/metrics.h"

#include <algorithm>
#include <cmath>
#include <utility>

namespace iw {

double LatencyHistogram::Quantile(double q) const {
  if (count <= 0) return 0;
  q = std::clamp(q, 0.0, 1.0);
  const double rank = q * static_cast<double>(count);
  int64_t below = 0;
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] == 0 || static_cast<double>(below + counts[i]) < rank) {
      below += counts[i];
      continue;
    }
    if (i == kLatencyBucketBounds.size()) return kLatencyBucketBounds.back();
    const double lower = i == 0 ? 0 : kLatencyBucketBounds[i - 1];
    const double upper = kLatencyBucketBounds[i];
    const double within = (rank - static_cast<double>(below)) / static_cast<double>(counts[i]);
    return lower + (upper - lower) * std::clamp(within, 0.0, 1.0);
  }
  return kLatencyBucketBounds.back();
}

const MethodMetrics* HostMetrics::Method(const std::string& path_or_name) const {
  for (const MethodMetrics& method : methods) {
    if (method.method == path_or_name) return &method;
    const size_t slash = method.method.rfind('/');
    if (slash != std::string::npos &&
        method.method.compare(slash + 1, std::string::npos, path_or_name) == 0) {
      return &method;
    }
  }
  return nullptr;
}

namespace {

void Subtract(const LatencyHistogram& earlier, LatencyHistogram* later) {
  for (size_t i = 0; i < later->counts.size(); ++i) later->counts[i] -= earlier.counts[i];
  later->count -= earlier.count;
  later->sum_seconds -= earlier.sum_seconds;
}

template <typename Key>
void Subtract(const std::map<Key, int64_t>& earlier, std::map<Key, int64_t>* later) {
  for (const auto& [key, value] : earlier) {
    auto it = later->find(key);
    if (it == later->end()) continue;  // cannot happen for counters; keep later's view
    it->second -= value;
    if (it->second == 0) later->erase(it);
  }
}

}  // namespace

HostMetrics MetricsDelta(const HostMetrics& later, const HostMetrics& earlier) {
  HostMetrics delta = later;
  delta.start_time = earlier.taken;
  for (MethodMetrics& method : delta.methods) {
    const MethodMetrics* before = earlier.Method(method.method);
    if (before == nullptr) continue;
    method.calls_started -= before->calls_started;
    method.calls_finished -= before->calls_finished;
    for (size_t i = 0; i < method.calls_by_code.size(); ++i) {
      method.calls_by_code[i] -= before->calls_by_code[i];
    }
    method.retries -= before->retries;
    method.request_bytes -= before->request_bytes;
    method.response_bytes -= before->response_bytes;
    Subtract(before->queue_wait, &method.queue_wait);
    Subtract(before->run_time, &method.run_time);
    Subtract(before->handler_time, &method.handler_time);
    Subtract(before->call_time, &method.call_time);
  }
  PoolMetrics& pool = delta.pool;
  const PoolMetrics& was = earlier.pool;
  pool.workers_spawned -= was.workers_spawned;
  pool.spawn_failures -= was.spawn_failures;
  pool.workers_crashed -= was.workers_crashed;
  pool.workers_recycled -= was.workers_recycled;
  pool.retries -= was.retries;
  pool.spares_promoted -= was.spares_promoted;
  pool.spares_died -= was.spares_died;
  Subtract(was.crashes_by_cause, &pool.crashes_by_cause);
  Subtract(was.crashes_by_exit_code, &pool.crashes_by_exit_code);
  Subtract(was.crashes_by_signal, &pool.crashes_by_signal);
  return delta;
}

}  // namespace iw
