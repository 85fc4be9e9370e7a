// -----------------------------------------------------------------------------
// File: codegen_support/service_info.h
// -----------------------------------------------------------------------------
//
// FOR GENERATED CODE ONLY. Not a stable API; include the generated
// `<file>.iw.h` instead.
//
// Static description of a service as protoc-gen-iw emits it: names and the
// values of our (iw.service)/(iw.method) options. Generated code holds one
// `constexpr ServiceInfo` per service; the runtime reads it on both sides.

#ifndef IW_RUNTIME_CODEGEN_SUPPORT_SERVICE_INFO_H_
#define IW_RUNTIME_CODEGEN_SUPPORT_SERVICE_INFO_H_

// First: a clear message when the compiler is not in C++17 mode.
#include "runtime/requirements.h"

#include <cstdint>

namespace iw::codegen {

// One RPC. Fields are appended, never reordered (generated code initialises
// them positionally).
struct MethodInfo {
  // The method's simple name, e.g. "Add".
  const char* name;
  // The gRPC path, e.g. "/demo.v1.Calculator/Add".
  const char* path;
  // (iw.method).timeout_ms, or 0 when unset.
  int64_t timeout_ms = 0;
  // (iw.method).on_deadline: 0 = leave running, 1 = replace the worker.
  int on_deadline = 0;
  // (iw.method).deadline_grace_ms, or -1 when unset.
  int64_t deadline_grace_ms = -1;
  // (iw.method).on_crash: 0 = reject, 1 = retry.
  int on_crash = 0;
  // (iw.method).max_attempts, or 0 when unset.
  int32_t max_attempts = 0;
  // (iw.method).inline_handler.
  bool inline_handler = false;
  // `stream` on the request / the response in the .proto (stream.h).
  bool client_streaming = false;
  bool server_streaming = false;
};

inline bool IsStreaming(const MethodInfo& method) {
  return method.client_streaming || method.server_streaming;
}

// One service.
struct ServiceInfo {
  // Fully qualified name, e.g. "demo.v1.Calculator".
  const char* full_name;
  const MethodInfo* methods;
  int method_count;
  // (iw.service).default_timeout_ms, or 0 when unset.
  int64_t default_timeout_ms = 0;
  // (iw.service).startup_timeout_ms, or 0 when unset.
  int64_t startup_timeout_ms = 0;
  // (iw.service).max_concurrent_calls, or 0 when unset.
  int32_t max_concurrent_calls = 0;
  // (iw.service).max_request_bytes / max_response_bytes, or 0 when unset.
  int64_t max_request_bytes = 0;
  int64_t max_response_bytes = 0;
};

}  // namespace iw::codegen

#endif  // IW_RUNTIME_CODEGEN_SUPPORT_SERVICE_INFO_H_
