#include "runtime/call_context.h"

#include <utility>

#include "absl/status/statusor.h"

namespace iw {
namespace {

thread_local const CallContext* current_context = nullptr;
thread_local const internal::Logger* current_logger = nullptr;
thread_local const std::string* current_worker_id = nullptr;

}  // namespace

const CallContext* CurrentCallContext() { return current_context; }

namespace internal {

TraceContext TraceFromMetadata(const Metadata& metadata, std::string* problem) {
  auto parent = metadata.find(kTraceparentMetadataKey);
  if (parent == metadata.end()) return TraceContext();
  if (metadata.count(kTraceparentMetadataKey) > 1) {
    *problem = "traceparent: sent more than once";
    return TraceContext();
  }
  // W3C: several tracestate headers are one comma-separated list.
  std::string state;
  auto [begin, end] = metadata.equal_range(kTracestateMetadataKey);
  for (auto it = begin; it != end; ++it) {
    if (!state.empty()) state += ',';
    state += it->second;
  }
  absl::StatusOr<TraceContext> trace = ParseTraceContext(parent->second, state);
  if (trace.ok()) return *std::move(trace);
  *problem = std::string(trace.status().message());
  // W3C: a bad tracestate does not spoil a good traceparent.
  trace = ParseTraceContext(parent->second, "");
  return trace.ok() ? *std::move(trace) : TraceContext();
}

CurrentCallScope::CurrentCallScope(const CallContext* context, const Logger* logger,
                                   const std::string* worker_id)
    : saved_context_(current_context),
      saved_logger_(current_logger),
      saved_worker_id_(current_worker_id) {
  current_context = context;
  current_logger = logger;
  current_worker_id = worker_id;
}

CurrentCallScope::~CurrentCallScope() {
  current_context = saved_context_;
  current_logger = saved_logger_;
  current_worker_id = saved_worker_id_;
}

const Logger* CurrentCallLogger() { return current_logger; }

absl::string_view CurrentCallWorkerId() {
  return current_worker_id == nullptr ? absl::string_view() : *current_worker_id;
}

}  // namespace internal
}  // namespace iw
