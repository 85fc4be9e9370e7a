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
#include <grpcpp/client_context.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/sync_stream.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "fuzz/fuzz_target.h"
#include "fuzz/safe_handlers.h"
#include "isolated_workers/internal/call_stream.pb.h"
#include "runtime/internal/call_stream_protocol.h"
#include "runtime/internal/dispatcher.h"
#include "runtime/internal/grpc_config.h"

namespace {

using iw::fuzz::Check;
using iw::internal::CallBatch;
using iw::internal::ReplyBatch;

struct Worker {
  Worker() {
    binding = iwtest::BindTestServiceHandler(handler);
    dispatcher = std::make_unique<iw::internal::Dispatcher>(binding, "fuzz");
    grpc::ServerBuilder builder;
    iw::internal::ConfigureServer(*binding.service, builder);
    builder.RegisterCallbackGenericService(dispatcher.get());
    server = builder.BuildAndStart();
    Check(server != nullptr, "the server starts");
    grpc::ChannelArguments args;
    channel = server->InProcessChannel(args);
  }
  iw::fuzz::SafeTestHandler handler;
  iw::internal::ServiceBinding binding;
  std::unique_ptr<iw::internal::Dispatcher> dispatcher;
  std::unique_ptr<grpc::Server> server;
  std::shared_ptr<grpc::Channel> channel;
};

grpc::ByteBuffer Bytes(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

// Reads a value from the input, 0 once it is used up.
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

// Valid batches built from the input; returns the ids sent.
std::vector<std::string> StructuredBatches(Reader& in, const iw::internal::ServiceInfo& service,
                                           std::vector<uint64_t>* ids) {
  std::vector<std::string> messages;
  CallBatch batch;
  const uint8_t table = in.Byte();
  for (int i = 0; i < service.method_count; ++i) batch.add_method_paths(service.methods[i].path);
  if (table & 1) batch.add_method_paths("/iwtest.TestService/NoSuchMethod");
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
    iw::internal::StreamCall* call = batch.add_calls();
    call->set_id(next_id);
    ids->push_back(next_id++);
    call->set_method(op % (service.method_count + 2));
    const uint8_t timeout = in.Byte();
    if (timeout & 0x80) call->set_timeout_us((uint64_t{1} << (timeout & 0x3f)));
    if (timeout & 0x40) call->set_replace_after_ms_plus_one(in.Byte());
    if (timeout & 0x20) {
      iw::internal::StreamMetadataEntry* entry = call->add_metadata();
      entry->set_key(in.Take(in.Byte() % 8));
      entry->set_value(in.Take(in.Byte() % 8));
    }
    call->set_request(in.Take(in.Byte() % 64));
  }
  messages.push_back(batch.SerializeAsString());
  return messages;
}

bool Canonical(int code) { return code >= 0 && code <= 16; }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Worker* worker = new Worker;
  if (size == 0) return 0;
  Reader in{data + 1, size - 1};
  const bool raw = (data[0] & 0x80) != 0;
  std::vector<std::string> messages;
  std::vector<uint64_t> ids;
  if (raw) {
    const size_t parts = 1 + data[0] % 4;
    const size_t chunk = in.size / parts + 1;
    for (size_t i = 0; i < parts; ++i) messages.push_back(in.Take(chunk));
  } else {
    messages = StructuredBatches(in, *worker->binding.service, &ids);
  }

  grpc::ClientContext context;
  context.AddMetadata(iw::internal::kCallStreamVersionKey, iw::internal::kCallStreamVersion);
  if (data[0] & 0x40) context.AddMetadata(iw::internal::kCallStreamMaxReplyKey, "16");
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(20)));
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>> stream(
      grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
          worker->channel.get(),
          grpc::internal::RpcMethod(iw::internal::kCallStreamMethod,
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
        "the stream ends well before its 20 s deadline");
  if (!raw && status.ok()) {
    for (uint64_t id : ids) Check(replies[id] == 1, "every call gets exactly one reply");
    Check(replies.size() == ids.size(), "no reply for an id that was not sent");
  }
  return 0;
}
