// Fuzz target: the worker end of the call stream
// (/iw.internal.CallStream/Calls) fed hostile input through a real gRPC
// server (in-process channel) with the Dispatcher serving TestService.
//
// Input: the first byte picks a mode.
// - Raw (bit 0x80 set): the rest is split into 1-4 stream messages, sent as
//   they are.
// - Structured: the rest is read as a list of calls (method index, timeout,
//   flags, request bytes) and sent as valid CallBatches, with cancellations
//   and possibly a bad method table, to reach the admission and reply paths.
//
// Invariants checked: no crash or sanitizer report; the stream ends with a
// canonical status; replies parse; for valid batches ended with OK, every
// call gets exactly one reply with a canonical code.
#include <grpcpp/channel.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "fuzz/call_stream_input.h"
#include "fuzz/fuzz_target.h"
#include "fuzz/safe_handlers.h"
#include "runtime/wire/grpc_config.h"
#include "runtime/worker/dispatcher.h"
#include "runtime/worker/service.h"

namespace {

using iw::fuzz::Check;

struct Worker {
  Worker() {
    binding = iwtest::BindTestServiceHandler(handler);
    dispatcher = std::make_unique<iw::internal::Dispatcher>(binding, "fuzz");
    grpc::ServerBuilder builder;
    iw::internal::ConfigureServer(*binding.service, builder);
    service = std::make_unique<iw::internal::WorkerService>(dispatcher.get());
    builder.RegisterCallbackGenericService(service.get());
    server = builder.BuildAndStart();
    Check(server != nullptr, "the server starts");
    grpc::ChannelArguments args;
    channel = server->InProcessChannel(args);
  }
  iw::fuzz::SafeTestHandler handler;
  iw::codegen::ServiceBinding binding;
  std::unique_ptr<iw::internal::Dispatcher> dispatcher;
  std::unique_ptr<iw::internal::WorkerService> service;
  std::unique_ptr<grpc::Server> server;
  std::shared_ptr<grpc::Channel> channel;
};

// Timeouts up to 2^63 us, on half the calls.
uint64_t TimeoutUs(uint8_t timeout_byte) {
  return (timeout_byte & 0x80) ? uint64_t{1} << (timeout_byte & 0x3f) : 0;
}

constexpr iw::fuzz::CallBatchOptions kBatchOptions = {&TimeoutUs, /*request_modulus=*/64};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Worker* worker = new Worker;
  if (size == 0) return 0;
  iw::fuzz::ByteReader in{data + 1, size - 1};
  const bool raw = (data[0] & 0x80) != 0;
  std::vector<uint64_t> ids;
  const std::vector<std::string> messages =
      raw ? iw::fuzz::RawStreamMessages(data[0], in)
          : iw::fuzz::StructuredCallBatches(in, *worker->binding.service, kBatchOptions, &ids);
  iw::fuzz::RunCallStream(*worker->channel, messages, /*small_replies=*/(data[0] & 0x40) != 0,
                          absl::Seconds(20), raw ? nullptr : &ids, &Check);
  return 0;
}
