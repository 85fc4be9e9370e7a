// FOR INTERNAL USE. The always-on recording behind HostBase::Metrics()
// (runtime/metrics.h): one `MethodRecorder` per method of a host, updated
// lock-free from any thread with relaxed atomic increments.
//
// Who records what:
// - CallAdmission (pool_admission.h): calls started/finished by code, call
//   time, per-attempt queue wait and run time, retries;
// - the endpoints, through CallTiming::metrics (endpoint.h): the bytes they
//   put on and take off the wire and the worker's own time from its reply.
#ifndef IW_RUNTIME_HOST_CALL_METRICS_H_
#define IW_RUNTIME_HOST_CALL_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "runtime/codegen_support/service_info.h"
#include "runtime/metrics.h"

namespace iw::internal {

// A latency histogram over kLatencyBucketBounds.
class HistogramCell {
 public:
  void Record(absl::Duration elapsed);
  void RecordNanos(int64_t nanos);
  // Adds this cell's counts into `out` (the sum of its buckets is the count).
  void Snapshot(LatencyHistogram* out) const;

 private:
  std::array<std::atomic<int64_t>, kLatencyBucketBounds.size() + 1> buckets_{};
  std::atomic<int64_t> sum_nanos_{0};
};

class MethodRecorder {
 public:
  void Started() { started_.fetch_add(1, std::memory_order_relaxed); }
  // A logical call ended with `code` after `elapsed`.
  void Finished(absl::StatusCode code, absl::Duration elapsed);
  void Retried() { retries_.fetch_add(1, std::memory_order_relaxed); }
  void QueueWait(absl::Duration waited) { queue_wait_.Record(waited); }
  void Ran(absl::Duration elapsed) { run_time_.Record(elapsed); }
  // Serialized messages: sent to a worker / received from one.
  void Sent(size_t bytes) {
    request_bytes_.fetch_add(static_cast<int64_t>(bytes), std::memory_order_relaxed);
  }
  void Received(size_t bytes) {
    response_bytes_.fetch_add(static_cast<int64_t>(bytes), std::memory_order_relaxed);
  }
  // The worker's own time for an attempt it answered, as its reply said.
  void WorkerTime(uint64_t micros) {
    handler_time_.RecordNanos(static_cast<int64_t>(micros) * 1000);
  }
  // A reply of the call stream or the native carrier: its serialized
  // response (none for an error) and, if the worker answered, its time.
  void Replied(size_t bytes, std::optional<uint64_t> worker_us) {
    Received(bytes);
    if (worker_us) WorkerTime(*worker_us);
  }

  void Snapshot(MethodMetrics* out) const;

 private:
  std::atomic<int64_t> started_{0};
  std::atomic<int64_t> finished_{0};
  std::array<std::atomic<int64_t>, 17> by_code_{};
  std::atomic<int64_t> retries_{0};
  std::atomic<int64_t> request_bytes_{0};
  std::atomic<int64_t> response_bytes_{0};
  HistogramCell queue_wait_;
  HistogramCell run_time_;
  HistogramCell handler_time_;
  HistogramCell call_time_;
};

// The recorders of one host, one per method in .proto order.
class CallMetrics {
 public:
  explicit CallMetrics(const codegen::ServiceInfo& service);
  CallMetrics(const CallMetrics&) = delete;
  CallMetrics& operator=(const CallMetrics&) = delete;

  MethodRecorder& method(int method_index) const { return methods_[method_index]; }
  absl::Time start_time() const { return start_time_; }
  // Fills service, start_time and methods.
  void Snapshot(HostMetrics* out) const;

 private:
  const codegen::ServiceInfo& service_;
  const absl::Time start_time_ = absl::Now();
  std::unique_ptr<MethodRecorder[]> methods_;
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_HOST_CALL_METRICS_H_
