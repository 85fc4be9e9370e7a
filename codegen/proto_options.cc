#include "codegen/proto_options.h"

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor.pb.h"
#include "isolated_workers/options.pb.h"

namespace iw::codegen {
namespace {

absl::Status CheckRange(absl::string_view option, int64_t value, int64_t min,
                        int64_t max) {
  if (value >= min && value <= max) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "option ", option, " must be in [", min, ", ", max, "], got ", value));
}

}  // namespace

absl::StatusOr<ServiceConfig> ReadServiceConfig(
    const google::protobuf::ServiceDescriptor& service) {
  ServiceConfig config;
  if (!service.options().HasExtension(::iw::service)) return config;
  const ::iw::ServiceOptions& options =
      service.options().GetExtension(::iw::service);
  if (options.has_default_timeout_ms()) {
    absl::Status status =
        CheckRange("(iw.service).default_timeout_ms",
                   options.default_timeout_ms(), kMinTimeoutMs, kMaxTimeoutMs);
    if (!status.ok()) return status;
    config.default_timeout_ms = options.default_timeout_ms();
  }
  if (options.has_startup_timeout_ms()) {
    absl::Status status =
        CheckRange("(iw.service).startup_timeout_ms",
                   options.startup_timeout_ms(), kMinTimeoutMs, kMaxTimeoutMs);
    if (!status.ok()) return status;
    config.startup_timeout_ms = options.startup_timeout_ms();
  }
  if (options.has_max_concurrent_calls()) {
    absl::Status status = CheckRange("(iw.service).max_concurrent_calls",
                                     options.max_concurrent_calls(),
                                     kMinConcurrentCalls, kMaxConcurrentCalls);
    if (!status.ok()) return status;
    config.max_concurrent_calls = options.max_concurrent_calls();
  }
  return config;
}

absl::StatusOr<MethodConfig> ReadMethodConfig(
    const google::protobuf::MethodDescriptor& method) {
  MethodConfig config;
  if (!method.options().HasExtension(::iw::method)) return config;
  const ::iw::MethodOptions& options =
      method.options().GetExtension(::iw::method);
  if (options.has_timeout_ms()) {
    absl::Status status =
        CheckRange("(iw.method).timeout_ms", options.timeout_ms(),
                   kMinTimeoutMs, kMaxTimeoutMs);
    if (!status.ok()) return status;
    config.timeout_ms = options.timeout_ms();
  }
  return config;
}

}  // namespace iw::codegen
