// Fuzz target: the worker's request decoding and dispatch, through the
// production path: Dispatcher::Execute (what both carriers, unary calls and
// the call stream, run: cancellation and deadline checks, middleware, the
// handler, response metadata, the reply size check) with the unary carrier's
// own codecs (ParseUnaryRequest / SerializeUnaryReply), on handlers that do
// nothing harmful (no crash, sleep or unbounded allocation).
//
// Input: the first byte picks the service (0x80), whether the call was
// cancelled before its handler started (0x40) or reached the worker after
// its deadline (0x20), and the method (the low 5 bits, modulo the method
// count); the rest is the request body exactly as it arrives over gRPC.
//
// Invariants checked: no crash or sanitizer report; an error carries a
// canonical gRPC code (even when a handler returns an arbitrary int); a call
// cancelled before it started is CANCELLED, one past its deadline
// DEADLINE_EXCEEDED, neither runs its handler into a reply; an OK call has
// serialized a reply no larger than the service's limit.
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>

#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "fuzz/fuzz_target.h"
#include "fuzz/safe_handlers.h"
#include "runtime/call_context.h"
#include "runtime/metadata.h"
#include "runtime/wire/grpc_config.h"
#include "runtime/worker/dispatcher.h"
#include "runtime/worker/unary_call.h"
#include "tests/hardening/limits_service.iw.h"
#include "tests/workers/test_service.iw.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Like a worker's: one dispatcher per served binding, for the process.
  static auto* test_handler = new iw::fuzz::SafeTestHandler;
  static auto* limits_handler = new iw::fuzz::SafeLimitsHandler;
  static auto* test_dispatcher =
      new iw::internal::Dispatcher(iwtest::BindTestServiceHandler(*test_handler), "fuzz");
  static auto* limits_dispatcher =
      new iw::internal::Dispatcher(iwtest::BindLimitsServiceHandler(*limits_handler), "fuzz");
  if (size == 0) return 0;
  iw::internal::Dispatcher& dispatcher = (data[0] & 0x80) ? *limits_dispatcher : *test_dispatcher;
  const bool cancelled = (data[0] & 0x40) != 0;
  const bool late = (data[0] & 0x20) != 0;
  const iw::codegen::ServiceInfo& service = *dispatcher.binding().service;
  const int method_index = (data[0] & 0x1f) % service.method_count;
  const iw::codegen::MethodInfo& method = service.methods[method_index];

  grpc::Slice slice(data + 1, size - 1);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  iw::CallContext context(method.path,
                          late ? absl::Now() - absl::Seconds(1) : absl::InfiniteFuture());
  if (cancelled) context.MarkCancelled();
  iw::Metadata response_metadata;
  absl::Status status = dispatcher.Execute(
      method_index, context, std::nullopt,
      [&request](google::protobuf::MessageLite* message) {
        return iw::internal::ParseUnaryRequest(&request, message);
      },
      [&context, &response](const google::protobuf::MessageLite& reply) {
        return iw::internal::SerializeUnaryReply(context, reply, &response);
      },
      &response_metadata);
  if (cancelled) {
    iw::fuzz::Check(status.code() == absl::StatusCode::kCancelled ||
                        (late && status.code() == absl::StatusCode::kDeadlineExceeded),
                    "a call cancelled before it started is not run");
  } else if (late) {
    iw::fuzz::Check(!status.ok(), "a reply after the deadline never passes for a success");
  }
  if (status.ok()) {
    iw::fuzz::Check(
        response.Length() <= static_cast<size_t>(iw::internal::MaxResponseBytes(service)),
        "an OK reply is within max_response_bytes");
  } else {
    const int code = static_cast<int>(status.code());
    iw::fuzz::Check(code >= 1 && code <= 16, "an error has a canonical gRPC code");
  }
  return 0;
}
