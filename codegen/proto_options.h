// -----------------------------------------------------------------------------
// File: codegen/proto_options.h
// -----------------------------------------------------------------------------
//
// Reads our custom options (iw.service) and (iw.method) (see
// proto/isolated_workers/options.proto) into plain structs and validates
// their ranges. This is the only file of the generator that looks at the raw
// options; emitters work with the structs.
//
// Example:
//
//   absl::StatusOr<ServiceConfig> config = ReadServiceConfig(*service);
//   if (!config.ok()) return config.status();   // "option (iw.service)..."
//   int64_t startup_ms = config->startup_timeout_ms.value_or(0);

#ifndef IW_CODEGEN_PROTO_OPTIONS_H_
#define IW_CODEGEN_PROTO_OPTIONS_H_

#include <cstdint>
#include <optional>

#include "absl/status/statusor.h"

namespace google::protobuf {
class MethodDescriptor;
class ServiceDescriptor;
}  // namespace google::protobuf

namespace iw::codegen {

// Valid range of every *_timeout_ms option: [1 ms, 7 days].
inline constexpr int64_t kMinTimeoutMs = 1;
inline constexpr int64_t kMaxTimeoutMs = 604800000;
// Valid range of (iw.service).max_concurrent_calls.
inline constexpr int32_t kMinConcurrentCalls = 1;
inline constexpr int32_t kMaxConcurrentCalls = 65536;
// Valid range of (iw.service).max_request_bytes / max_response_bytes.
inline constexpr int64_t kMinMessageBytes = 1;
inline constexpr int64_t kMaxMessageBytes = 2147483647;
// Valid range of (iw.method).max_attempts.
inline constexpr int32_t kMinAttempts = 1;
inline constexpr int32_t kMaxAttempts = 100;

// Values of MethodConfig::on_crash (the iw.OnCrash enum).
inline constexpr int kCrashReject = 0;
inline constexpr int kCrashRetry = 1;

// (iw.service), validated. An empty optional means "not set in the .proto".
struct ServiceConfig {
  std::optional<int64_t> default_timeout_ms;
  std::optional<int64_t> startup_timeout_ms;
  std::optional<int32_t> max_concurrent_calls;
  std::optional<int64_t> max_request_bytes;
  std::optional<int64_t> max_response_bytes;
};

// (iw.method), validated.
struct MethodConfig {
  std::optional<int64_t> timeout_ms;
  // Values of the iw.OnDeadline / iw.OnCrash enums.
  std::optional<int> on_deadline;
  std::optional<int64_t> deadline_grace_ms;
  std::optional<int> on_crash;
  std::optional<int32_t> max_attempts;
  bool inline_handler = false;
};

// Returns the service's (iw.service) options, or INVALID_ARGUMENT naming the
// option and the bad value, e.g.
// "option (iw.service).max_concurrent_calls must be in [1, 65536], got 0".
// The message carries no file or service name; the caller adds them.
absl::StatusOr<ServiceConfig> ReadServiceConfig(const google::protobuf::ServiceDescriptor& service);

// Same for (iw.method) of one method.
absl::StatusOr<MethodConfig> ReadMethodConfig(const google::protobuf::MethodDescriptor& method);

}  // namespace iw::codegen

#endif  // IW_CODEGEN_PROTO_OPTIONS_H_
