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

static_assert(kCrashReject == ::iw::CRASH_REJECT && kCrashRetry == ::iw::CRASH_RETRY,
              "proto_options.h must mirror iw.OnCrash");

absl::Status CheckRange(absl::string_view option, int64_t value, int64_t min, int64_t max) {
  if (value >= min && value <= max) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("option ", option, " must be in [", min, ", ", max, "], got ", value));
}

}  // namespace

absl::StatusOr<ServiceConfig> ReadServiceConfig(
    const google::protobuf::ServiceDescriptor& service) {
  ServiceConfig config;
  if (!service.options().HasExtension(::iw::service)) return config;
  const ::iw::ServiceOptions& options = service.options().GetExtension(::iw::service);
  if (options.has_default_timeout_ms()) {
    absl::Status status = CheckRange("(iw.service).default_timeout_ms",
                                     options.default_timeout_ms(), kMinTimeoutMs, kMaxTimeoutMs);
    if (!status.ok()) return status;
    config.default_timeout_ms = options.default_timeout_ms();
  }
  if (options.has_startup_timeout_ms()) {
    absl::Status status = CheckRange("(iw.service).startup_timeout_ms",
                                     options.startup_timeout_ms(), kMinTimeoutMs, kMaxTimeoutMs);
    if (!status.ok()) return status;
    config.startup_timeout_ms = options.startup_timeout_ms();
  }
  if (options.has_max_concurrent_calls()) {
    absl::Status status =
        CheckRange("(iw.service).max_concurrent_calls", options.max_concurrent_calls(),
                   kMinConcurrentCalls, kMaxConcurrentCalls);
    if (!status.ok()) return status;
    config.max_concurrent_calls = options.max_concurrent_calls();
  }
  if (options.has_max_request_bytes()) {
    absl::Status status = CheckRange("(iw.service).max_request_bytes", options.max_request_bytes(),
                                     kMinMessageBytes, kMaxMessageBytes);
    if (!status.ok()) return status;
    config.max_request_bytes = options.max_request_bytes();
  }
  if (options.has_max_response_bytes()) {
    absl::Status status =
        CheckRange("(iw.service).max_response_bytes", options.max_response_bytes(),
                   kMinMessageBytes, kMaxMessageBytes);
    if (!status.ok()) return status;
    config.max_response_bytes = options.max_response_bytes();
  }
  return config;
}

absl::StatusOr<MethodConfig> ReadMethodConfig(const google::protobuf::MethodDescriptor& method) {
  MethodConfig config;
  if (!method.options().HasExtension(::iw::method)) return config;
  const ::iw::MethodOptions& options = method.options().GetExtension(::iw::method);
  if (options.has_timeout_ms()) {
    absl::Status status =
        CheckRange("(iw.method).timeout_ms", options.timeout_ms(), kMinTimeoutMs, kMaxTimeoutMs);
    if (!status.ok()) return status;
    config.timeout_ms = options.timeout_ms();
  }
  if (options.has_on_deadline()) config.on_deadline = options.on_deadline();
  if (options.has_deadline_grace_ms()) {
    if (options.on_deadline() != ::iw::DEADLINE_REPLACE_WORKER) {
      return absl::InvalidArgumentError(
          "option (iw.method).deadline_grace_ms needs on_deadline: "
          "DEADLINE_REPLACE_WORKER");
    }
    absl::Status status =
        CheckRange("(iw.method).deadline_grace_ms", options.deadline_grace_ms(), 0, kMaxTimeoutMs);
    if (!status.ok()) return status;
    config.deadline_grace_ms = options.deadline_grace_ms();
  }
  if (options.has_on_crash()) config.on_crash = options.on_crash();
  if (options.has_max_attempts()) {
    if (options.on_crash() != ::iw::CRASH_RETRY) {
      return absl::InvalidArgumentError(
          "option (iw.method).max_attempts needs on_crash: CRASH_RETRY");
    }
    absl::Status status =
        CheckRange("(iw.method).max_attempts", options.max_attempts(), kMinAttempts, kMaxAttempts);
    if (!status.ok()) return status;
    config.max_attempts = options.max_attempts();
  }
  config.inline_handler = options.inline_handler();
  return config;
}

}  // namespace iw::codegen
