#include "fuzz/service_fuzzer.h"

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/impl/client_unary_call.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/sync_stream.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/stubs/logging.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "isolated_workers/internal/call_stream.pb.h"
#include "runtime/internal/call_stream_protocol.h"
#include "runtime/internal/dispatcher.h"
#include "runtime/internal/grpc_config.h"

namespace iw::fuzz {
namespace {

using internal::CallBatch;
using internal::ReplyBatch;

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

grpc::ByteBuffer Bytes(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

// Reads values from the input; 0 / empty once it is used up.
struct Reader {
  const uint8_t* data;
  size_t size;
  uint8_t Byte() {
    if (size == 0) return 0;
    --size;
    return *data++;
  }
  std::string Take(size_t n) {
    n = std::min(n, size);
    std::string out(reinterpret_cast<const char*>(data), n);
    data += n;
    size -= n;
    return out;
  }
};

// Valid call batches built from the input; `ids` gets the call ids sent.
std::vector<std::string> StructuredBatches(Reader& in, const internal::ServiceInfo& service,
                                           std::vector<uint64_t>* ids) {
  std::vector<std::string> messages;
  CallBatch batch;
  const uint8_t table = in.Byte();
  for (int i = 0; i < service.method_count; ++i) batch.add_method_paths(service.methods[i].path);
  if (table & 1) batch.add_method_paths(absl::StrCat("/", service.full_name, "/NoSuchMethod"));
  if (table & 2) batch.clear_method_paths();  // no table at all
  uint64_t next_id = 1;
  while (in.size > 0 && ids->size() < 64) {
    const uint8_t op = in.Byte();
    if (op == 0xff) {  // end this batch, start another
      messages.push_back(batch.SerializeAsString());
      batch.Clear();
      continue;
    }
    if (op == 0xfe && !ids->empty()) {
      batch.add_cancelled_ids((*ids)[in.Byte() % ids->size()]);
      continue;
    }
    internal::StreamCall* call = batch.add_calls();
    call->set_id(next_id);
    ids->push_back(next_id++);
    call->set_method(op % (service.method_count + 2));  // some out of range
    const uint8_t timeout = in.Byte();
    call->set_timeout_us(uint64_t{1} << (timeout % (kMaxTimeoutShift + 1)));
    if (timeout & 0x40) call->set_replace_after_ms_plus_one(in.Byte());
    if (timeout & 0x20) {
      internal::StreamMetadataEntry* entry = call->add_metadata();
      entry->set_key(in.Take(in.Byte() % 8));
      entry->set_value(in.Take(in.Byte() % 8));
    }
    call->set_request(in.Take(in.Byte() % 128));
  }
  messages.push_back(batch.SerializeAsString());
  return messages;
}

}  // namespace

struct ServiceFuzzer::Server {
  explicit Server(const internal::ServiceBinding& b) : binding(b) {
    dispatcher = std::make_unique<internal::Dispatcher>(binding, "fuzz");
    // A handler that overruns DEADLINE_REPLACE_WORKER's grace would end a
    // real worker: here it is only logged, the fuzzer goes on.
    dispatcher->SetOverrunHandler([](const std::string& description) {
      std::fprintf(stderr, "service fuzzer: %s\n", description.c_str());
    });
    grpc::ServerBuilder builder;
    internal::ConfigureServer(*binding.service, builder);
    builder.RegisterCallbackGenericService(dispatcher.get());
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

  const internal::ServiceBinding binding;
  std::unique_ptr<internal::Dispatcher> dispatcher;
  std::unique_ptr<grpc::Server> server;
  std::shared_ptr<grpc::Channel> channel;
  std::vector<std::unique_ptr<grpc::internal::RpcMethod>> methods;
};

ServiceFuzzer::ServiceFuzzer(const internal::ServiceBinding& binding)
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
  const internal::ServiceInfo& service = *server_->binding.service;
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
  const internal::ServiceInfo& service = *server_->binding.service;
  Reader in{data + 1, size - 1};
  const bool raw = (data[0] & 0xc0) == 0xc0;
  std::vector<std::string> messages;
  std::vector<uint64_t> ids;
  if (raw) {
    const size_t parts = 1 + data[0] % 4;
    const size_t chunk = in.size / parts + 1;
    for (size_t i = 0; i < parts; ++i) messages.push_back(in.Take(chunk));
  } else {
    messages = StructuredBatches(in, service, &ids);
  }
  grpc::ClientContext context;
  context.AddMetadata(internal::kCallStreamVersionKey, internal::kCallStreamVersion);
  if (data[0] & 0x20) context.AddMetadata(internal::kCallStreamMaxReplyKey, "16");
  context.set_deadline(absl::ToChronoTime(absl::Now() + kStreamDeadline));
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>> stream(
      grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
          server_->channel.get(),
          grpc::internal::RpcMethod(internal::kCallStreamMethod,
                                    grpc::internal::RpcMethod::BIDI_STREAMING),
          &context));
  for (const std::string& message : messages) {
    if (!stream->Write(Bytes(message))) break;
  }
  stream->WritesDone();
  std::map<uint64_t, int> replies;
  grpc::ByteBuffer bytes;
  while (stream->Read(&bytes)) {
    ReplyBatch batch;
    Check(grpc::SerializationTraits<ReplyBatch>::Deserialize(&bytes, &batch).ok(),
          "a reply batch parses");
    for (const auto& reply : batch.replies()) {
      Check(Canonical(reply.code()), "a reply has a canonical code");
      ++replies[reply.id()];
    }
  }
  grpc::Status status = stream->Finish();
  Check(Canonical(status.error_code()), "the stream ends with a canonical status");
  Check(status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED,
        "the stream ends well before its deadline (a handler ignores its own?)");
  if (!raw && status.ok()) {
    for (uint64_t id : ids) Check(replies[id] == 1, "every call gets exactly one reply");
    Check(replies.size() == ids.size(), "no reply for an id that was not sent");
  }
}

}  // namespace iw::fuzz
