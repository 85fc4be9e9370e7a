#include "runtime/common/timeouts.h"

#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace iw::internal {
namespace {

absl::StatusOr<ResolvedTimeout> Scaled(absl::Duration timeout, std::string source, double scale) {
  if (timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        absl::StrCat(source, " must be positive, got ", absl::FormatDuration(timeout)));
  }
  if (scale != 1.0) {
    timeout = timeout * scale;
    absl::StrAppend(&source, " x", scale, " ($", kTimeoutScaleEnv, ")");
  }
  return ResolvedTimeout{timeout, std::move(source)};
}

}  // namespace

double TimeoutScale() {
  const char* value = std::getenv(kTimeoutScaleEnv);
  double scale;
  if (value == nullptr || !absl::SimpleAtod(value, &scale) || !(scale > 0)) return 1.0;
  return scale;
}

absl::StatusOr<ResolvedTimeout> ResolveCallTimeout(
    const codegen::ServiceInfo& service, int method_index,
    const std::optional<absl::Duration>& host_method_timeout,
    const std::optional<absl::Duration>& host_call_timeout, const CallOptions& call, double scale) {
  const codegen::MethodInfo& method = service.methods[method_index];
  if (call.timeout) return Scaled(*call.timeout, "CallOptions::timeout", scale);
  if (host_method_timeout) {
    return Scaled(*host_method_timeout, absl::StrCat("the host's MethodConfig for ", method.name),
                  scale);
  }
  if (host_call_timeout) return Scaled(*host_call_timeout, "WorkerOptions::call_timeout", scale);
  if (method.timeout_ms > 0) {
    return Scaled(absl::Milliseconds(method.timeout_ms), "(iw.method).timeout_ms", scale);
  }
  if (service.default_timeout_ms > 0) {
    return Scaled(absl::Milliseconds(service.default_timeout_ms), "(iw.service).default_timeout_ms",
                  scale);
  }
  return Scaled(kDefaultCallTimeout, "the library default", scale);
}

absl::StatusOr<ResolvedTimeout> ResolveStartupTimeout(const codegen::ServiceInfo& service,
                                                      const WorkerOptions& options, double scale) {
  if (options.startup_timeout) {
    return Scaled(*options.startup_timeout, "WorkerOptions::startup_timeout", scale);
  }
  if (service.startup_timeout_ms > 0) {
    return Scaled(absl::Milliseconds(service.startup_timeout_ms), "(iw.service).startup_timeout_ms",
                  scale);
  }
  return Scaled(kDefaultStartupTimeout, "the library default", scale);
}

std::string MethodDisplayName(const codegen::ServiceInfo& service, int method_index) {
  return absl::StrCat(service.full_name, ".", service.methods[method_index].name);
}

}  // namespace iw::internal

namespace iw::internal {

absl::Status DeadlineExceeded(const codegen::ServiceInfo& service, int method_index,
                              const ResolvedTimeout& timeout) {
  return absl::DeadlineExceededError(
      absl::StrCat(MethodDisplayName(service, method_index), ": deadline exceeded after ",
                   absl::FormatDuration(timeout.timeout), " (timeout from ", timeout.source, ")"));
}

}  // namespace iw::internal
