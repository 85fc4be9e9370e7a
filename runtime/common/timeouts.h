// FOR INTERNAL USE. Where a bound comes from, and the global scale factor.
//
// Message timeout precedence (first set wins):
//   1. CallOptions::timeout                      (this call)
//   2. <Service>MethodConfig.<method>.timeout    (host, this method)
//   3. WorkerOptions::call_timeout               (host, every method)
//   4. (iw.method).timeout_ms                    (.proto, this method)
//   5. (iw.service).default_timeout_ms           (.proto, every method)
//   6. kDefaultCallTimeout                       (library, 300 s)
// Startup: WorkerOptions::startup_timeout → (iw.service).startup_timeout_ms →
// kDefaultStartupTimeout (10 s).
// Every resolved bound is multiplied by $IW_TIMEOUT_SCALE (read once per
// host, when it is created; a positive number,
// default 1) for slow or loaded machines.
#ifndef IW_RUNTIME_COMMON_TIMEOUTS_H_
#define IW_RUNTIME_COMMON_TIMEOUTS_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "runtime/codegen_support/service_info.h"
#include "runtime/options.h"

namespace iw::internal {

inline constexpr char kTimeoutScaleEnv[] = "IW_TIMEOUT_SCALE";

struct ResolvedTimeout {
  absl::Duration timeout;
  // Where it came from, for error messages: "(iw.method).timeout_ms".
  std::string source;
};

// The value of $IW_TIMEOUT_SCALE, or 1 when unset or invalid.
double TimeoutScale();

// `scale`: the factor to apply; hosts read TimeoutScale() once, when they
// are created, not per call.
absl::StatusOr<ResolvedTimeout> ResolveCallTimeout(
    const codegen::ServiceInfo& service, int method_index,
    const std::optional<absl::Duration>& host_method_timeout,
    const std::optional<absl::Duration>& host_call_timeout, const CallOptions& call,
    double scale = TimeoutScale());

absl::StatusOr<ResolvedTimeout> ResolveStartupTimeout(const codegen::ServiceInfo& service,
                                                      const WorkerOptions& options,
                                                      double scale = TimeoutScale());

// "demo.v1.Calculator.Add".
std::string MethodDisplayName(const codegen::ServiceInfo& service, int method_index);

// DEADLINE_EXCEEDED "demo.v1.Calculator.Add: deadline exceeded after 500ms
// (timeout from (iw.method).timeout_ms)".
absl::Status DeadlineExceeded(const codegen::ServiceInfo& service, int method_index,
                              const ResolvedTimeout& timeout);

}  // namespace iw::internal

#endif  // IW_RUNTIME_COMMON_TIMEOUTS_H_
