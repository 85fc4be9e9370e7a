// Fuzz target: the worker's request decoding and dispatch. The first input
// byte picks a service and a method; the rest is the request body exactly as
// it would arrive over gRPC. It goes through DecodeAndInvoke(), the same code
// path WorkerCall runs (parse → handler → reply size check → serialize), on
// handlers that do nothing harmful (no crash, sleep or unbounded allocation).
//
// Invariants checked: no crash or sanitizer report; an error carries a
// canonical gRPC code (even when a handler returns an arbitrary int); an OK
// call has serialized a reply no larger than the service's limit.
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>

#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "absl/time/time.h"
#include "fuzz/fuzz_target.h"
#include "fuzz/safe_handlers.h"
#include "runtime/call_context.h"
#include "runtime/worker/dispatcher.h"
#include "runtime/wire/grpc_config.h"
#include "tests/hardening/limits_service.iw.h"
#include "tests/workers/test_service.iw.h"


extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static iw::fuzz::SafeTestHandler* test_handler = new iw::fuzz::SafeTestHandler;
  static iw::fuzz::SafeLimitsHandler* limits_handler = new iw::fuzz::SafeLimitsHandler;
  static const iw::codegen::ServiceBinding test_binding =
      iwtest::BindTestServiceHandler(*test_handler);
  static const iw::codegen::ServiceBinding limits_binding =
      iwtest::BindLimitsServiceHandler(*limits_handler);
  if (size == 0) return 0;
  const iw::codegen::ServiceBinding& binding = (data[0] & 0x80) ? limits_binding : test_binding;
  const int method_index = (data[0] & 0x7f) % binding.service->method_count;
  const iw::codegen::MethodInfo& method = binding.service->methods[method_index];

  grpc::Slice slice(data + 1, size - 1);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  iw::CallContext context(method.path, absl::InfiniteFuture());
  absl::Status status =
      iw::internal::DecodeAndInvoke(binding, method_index, context, &request, &response);
  if (status.ok()) {
    iw::fuzz::Check(response.Length() <=
              static_cast<size_t>(iw::internal::MaxResponseBytes(*binding.service)),
          "an OK reply is within max_response_bytes");
  } else {
    const int code = static_cast<int>(status.code());
    iw::fuzz::Check(code >= 1 && code <= 16, "an error has a canonical gRPC code");
  }
  return 0;
}
