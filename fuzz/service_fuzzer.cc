#include "fuzz/service_fuzzer.h"

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/impl/client_unary_call.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/byte_buffer.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "fuzz/call_stream_input.h"
#include "google/protobuf/stubs/logging.h"
#include "runtime/wire/grpc_config.h"
#include "runtime/worker/dispatcher.h"
#include "runtime/worker/service.h"

namespace iw::fuzz {
namespace {

// Deadline of one unary call, and the longest per-call timeout of a
// structured batch (2^17 us, about 0.13 s): short, so that handlers that
// work until their deadline keep the fuzzer fast.
constexpr absl::Duration kUnaryDeadline = absl::Milliseconds(200);
constexpr int kMaxTimeoutShift = 17;
// The stream's own deadline: a stream still open after this is a finding.
constexpr absl::Duration kStreamDeadline = absl::Seconds(20);

// Aborts (a finding) if `condition` is false.
void Check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "service fuzzer: invariant violated: %s\n", what);
    std::abort();
  }
}

bool Canonical(int code) { return code >= 0 && code <= 16; }

// Timeouts of at most 2^kMaxTimeoutShift us, on every call.
uint64_t TimeoutUs(uint8_t timeout_byte) {
  return uint64_t{1} << (timeout_byte % (kMaxTimeoutShift + 1));
}

constexpr CallBatchOptions kBatchOptions = {&TimeoutUs, /*request_modulus=*/128};

}  // namespace

struct ServiceFuzzer::Server {
  explicit Server(const iw::codegen::ServiceBinding& b) : binding(b) {
    dispatcher = std::make_unique<internal::Dispatcher>(binding, "fuzz");
    // A handler that overruns DEADLINE_REPLACE_WORKER's grace would end a
    // real worker: here it is only logged, the fuzzer goes on.
    dispatcher->SetOverrunHandler([](const std::string& description) {
      std::fprintf(stderr, "service fuzzer: %s\n", description.c_str());
    });
    grpc::ServerBuilder builder;
    internal::ConfigureServer(*binding.service, builder);
    service = std::make_unique<internal::WorkerService>(dispatcher.get());
    builder.RegisterCallbackGenericService(service.get());
    server = builder.BuildAndStart();
    Check(server != nullptr, "the in-process server starts");
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(-1);
    args.SetMaxSendMessageSize(-1);
    channel = server->InProcessChannel(args);
    for (int i = 0; i < binding.service->method_count; ++i) {
      methods.push_back(std::make_unique<grpc::internal::RpcMethod>(
          binding.service->methods[i].path, grpc::internal::RpcMethod::NORMAL_RPC, channel));
    }
  }

  const iw::codegen::ServiceBinding binding;
  std::unique_ptr<internal::Dispatcher> dispatcher;
  std::unique_ptr<internal::WorkerService> service;
  std::unique_ptr<grpc::Server> server;
  std::shared_ptr<grpc::Channel> channel;
  std::vector<std::unique_ptr<grpc::internal::RpcMethod>> methods;
};

ServiceFuzzer::ServiceFuzzer(const iw::codegen::ServiceBinding& binding)
    : server_(std::make_unique<Server>(binding)) {
  Check(binding.service->method_count > 0, "the service has methods");
  // Most inputs do not parse, and protobuf logs each invalid UTF-8 string:
  // millions of lines that slow the run and bury a finding's output.
  google::protobuf::SetLogHandler(nullptr);
}

// Never destroyed in practice (fuzz targets keep it for the process); the
// server would wait for calls still running in handlers.
ServiceFuzzer::~ServiceFuzzer() = default;

int ServiceFuzzer::Run(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  if ((data[0] & 0xc0) == 0) {
    RunUnary(data, size);
  } else {
    RunStream(data, size);
  }
  return 0;
}

void ServiceFuzzer::RunUnary(const uint8_t* data, size_t size) {
  const iw::codegen::ServiceInfo& service = *server_->binding.service;
  const int method_index = data[0] % service.method_count;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kUnaryDeadline));
  grpc::Slice slice(data + 1, size - 1);
  grpc::ByteBuffer request(&slice, 1), response;
  grpc::Status status = grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
      server_->channel.get(), *server_->methods[method_index], &context, request, &response);
  Check(Canonical(status.error_code()), "a unary call ends with a canonical code");
  if (status.ok()) {
    Check(response.Length() <= static_cast<size_t>(internal::MaxResponseBytes(service)),
          "an OK reply is within max_response_bytes");
  }
}

void ServiceFuzzer::RunStream(const uint8_t* data, size_t size) {
  const iw::codegen::ServiceInfo& service = *server_->binding.service;
  ByteReader in{data + 1, size - 1};
  const bool raw = (data[0] & 0xc0) == 0xc0;
  std::vector<uint64_t> ids;
  const std::vector<std::string> messages =
      raw ? RawStreamMessages(data[0], in)
          : StructuredCallBatches(in, service, kBatchOptions, &ids);
  RunCallStream(*server_->channel, messages, /*small_replies=*/(data[0] & 0x20) != 0,
                kStreamDeadline, raw ? nullptr : &ids, &Check);
}

}  // namespace iw::fuzz
