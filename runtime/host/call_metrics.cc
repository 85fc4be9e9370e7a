#include "runtime/host/call_metrics.h"

#include <algorithm>

namespace iw::internal {

namespace {

// kLatencyBucketBounds in nanoseconds.
constexpr std::array<int64_t, kLatencyBucketBounds.size()> BoundsInNanos() {
  std::array<int64_t, kLatencyBucketBounds.size()> nanos{};
  for (size_t i = 0; i < nanos.size(); ++i) {
    nanos[i] = static_cast<int64_t>(kLatencyBucketBounds[i] * 1e9 + 0.5);
  }
  return nanos;
}
constexpr std::array<int64_t, kLatencyBucketBounds.size()> kBoundNanos = BoundsInNanos();

}  // namespace

void HistogramCell::Record(absl::Duration elapsed) {
  RecordNanos(absl::ToInt64Nanoseconds(elapsed));
}

void HistogramCell::RecordNanos(int64_t nanos) {
  nanos = std::max<int64_t>(nanos, 0);
  // The first bound >= nanos ("le"); past the last: the unbounded bucket.
  const size_t bucket = static_cast<size_t>(
      std::lower_bound(kBoundNanos.begin(), kBoundNanos.end(), nanos) - kBoundNanos.begin());
  buckets_[bucket].fetch_add(1, std::memory_order_relaxed);
  sum_nanos_.fetch_add(nanos, std::memory_order_relaxed);
}

void HistogramCell::Snapshot(LatencyHistogram* out) const {
  for (size_t i = 0; i < buckets_.size(); ++i) {
    const int64_t n = buckets_[i].load(std::memory_order_relaxed);
    out->counts[i] += n;
    out->count += n;
  }
  out->sum_seconds += static_cast<double>(sum_nanos_.load(std::memory_order_relaxed)) * 1e-9;
}

void MethodRecorder::Finished(absl::StatusCode code, absl::Duration elapsed) {
  // The histogram first: whoever sees the call finished sees its time.
  call_time_.Record(elapsed);
  const size_t index = static_cast<size_t>(code) < by_code_.size()
                           ? static_cast<size_t>(code)
                           : static_cast<size_t>(absl::StatusCode::kUnknown);
  by_code_[index].fetch_add(1, std::memory_order_relaxed);
  finished_.fetch_add(1, std::memory_order_release);
}

void MethodRecorder::Snapshot(MethodMetrics* out) const {
  // Finished before started: a call is counted started before it finishes,
  // so in flight never comes out negative.
  out->calls_finished = finished_.load(std::memory_order_acquire);
  out->calls_started = started_.load(std::memory_order_relaxed);
  out->calls_in_flight = std::max<int64_t>(0, out->calls_started - out->calls_finished);
  for (size_t i = 0; i < by_code_.size(); ++i) {
    out->calls_by_code[i] = by_code_[i].load(std::memory_order_relaxed);
  }
  out->retries = retries_.load(std::memory_order_relaxed);
  out->request_bytes = request_bytes_.load(std::memory_order_relaxed);
  out->response_bytes = response_bytes_.load(std::memory_order_relaxed);
  queue_wait_.Snapshot(&out->queue_wait);
  run_time_.Snapshot(&out->run_time);
  handler_time_.Snapshot(&out->handler_time);
  call_time_.Snapshot(&out->call_time);
}

CallMetrics::CallMetrics(const codegen::ServiceInfo& service)
    : service_(service), methods_(new MethodRecorder[std::max(service.method_count, 1)]) {}

void CallMetrics::Snapshot(HostMetrics* out) const {
  out->service = service_.full_name;
  out->start_time = start_time_;
  out->methods.resize(static_cast<size_t>(service_.method_count));
  for (int i = 0; i < service_.method_count; ++i) {
    MethodMetrics& method = out->methods[static_cast<size_t>(i)];
    method.method = service_.methods[i].path;
    method.streaming = codegen::IsStreaming(service_.methods[i]);
    methods_[i].Snapshot(&method);
  }
}

}  // namespace iw::internal
