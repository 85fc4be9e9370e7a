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
#include "runtime/call_context.h"
#include "runtime/internal/dispatcher.h"
#include "runtime/internal/grpc_config.h"
#include "tests/hardening/limits_service.iw.h"
#include "tests/workers/test_service.iw.h"

namespace {

// Every TestService method, made safe to run millions of times.
class SafeTestHandler final : public iwtest::TestServiceHandler {
 public:
  absl::StatusOr<iwtest::EchoReply> Echo(iw::CallContext&,
                                         const iwtest::EchoRequest& request) override {
    iwtest::EchoReply reply;
    reply.set_text(request.text());
    reply.set_payload(request.payload());
    return reply;
  }
  absl::StatusOr<iwtest::EchoReply> EchoInline(iw::CallContext& context,
                                               const iwtest::EchoRequest& request) override {
    return Echo(context, request);
  }
  absl::StatusOr<iwtest::SleepReply> Sleep(iw::CallContext& context,
                                           const iwtest::SleepRequest& request) override {
    iwtest::SleepReply reply;
    reply.set_tag(request.tag());
    reply.set_saw_cancelled(context.IsCancelled());
    return reply;
  }
  absl::StatusOr<iwtest::CrashReply> Crash(iw::CallContext&,
                                           const iwtest::CrashRequest&) override {
    return absl::UnavailableError("not crashing under the fuzzer");
  }
  absl::StatusOr<iwtest::FailReply> Fail(iw::CallContext&,
                                         const iwtest::FailRequest& request) override {
    if (request.throw_exception()) throw std::runtime_error(request.message());
    if (request.code() == 0) return iwtest::FailReply();
    // Any other int, valid code or not, must map to a sane status.
    return absl::Status(static_cast<absl::StatusCode>(request.code()), request.message());
  }
  absl::StatusOr<iwtest::GetEnvReply> GetEnv(iw::CallContext&,
                                             const iwtest::GetEnvRequest& request) override {
    iwtest::GetEnvReply reply;
    reply.set_set(request.name().empty());
    return reply;
  }
  absl::StatusOr<iwtest::SpinReply> Spin(iw::CallContext&, const iwtest::SpinRequest&) override {
    return iwtest::SpinReply();
  }
  absl::StatusOr<iwtest::AllocateReply> Allocate(
      iw::CallContext&, const iwtest::AllocateRequest& request) override {
    iwtest::AllocateReply reply;
    reply.set_allocated(request.bytes() >= 0 && request.bytes() < (1 << 16));
    return reply;
  }
  absl::StatusOr<iwtest::OpenFilesReply> OpenFiles(
      iw::CallContext&, const iwtest::OpenFilesRequest& request) override {
    iwtest::OpenFilesReply reply;
    reply.set_opened(request.count() < 0 ? 0 : request.count() % 8);
    return reply;
  }
};

class SafeLimitsHandler final : public iwtest::LimitsServiceHandler {
 public:
  absl::StatusOr<iwtest::SizedReply> Sized(iw::CallContext&,
                                           const iwtest::SizedRequest& request) override {
    iwtest::SizedReply reply;
    // Up to 4 KiB: crosses the 2048-byte max_response_bytes of the service.
    reply.set_payload(std::string(static_cast<size_t>(request.reply_bytes()) % 4096, 'r'));
    return reply;
  }
};

void Check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "dispatch_fuzzer: invariant violated: %s\n", what);
    std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static SafeTestHandler* test_handler = new SafeTestHandler;
  static SafeLimitsHandler* limits_handler = new SafeLimitsHandler;
  static const iw::internal::ServiceBinding test_binding =
      iwtest::BindTestServiceHandler(*test_handler);
  static const iw::internal::ServiceBinding limits_binding =
      iwtest::BindLimitsServiceHandler(*limits_handler);
  if (size == 0) return 0;
  const iw::internal::ServiceBinding& binding = (data[0] & 0x80) ? limits_binding : test_binding;
  const int method_index = (data[0] & 0x7f) % binding.service->method_count;
  const iw::internal::MethodInfo& method = binding.service->methods[method_index];

  grpc::Slice slice(data + 1, size - 1);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  iw::CallContext context(method.path, absl::InfiniteFuture());
  grpc::Status status =
      iw::internal::DecodeAndInvoke(binding, method_index, context, &request, &response);
  if (status.ok()) {
    Check(response.Length() <=
              static_cast<size_t>(iw::internal::MaxResponseBytes(*binding.service)),
          "an OK reply is within max_response_bytes");
  } else {
    const int code = static_cast<int>(status.error_code());
    Check(code >= 1 && code <= 16, "an error has a canonical gRPC code");
  }
  return 0;
}
