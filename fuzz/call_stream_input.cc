#include "fuzz/call_stream_input.h"

#include <grpcpp/client_context.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/sync_stream.h>

#include <map>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "isolated_workers/internal/call_stream.pb.h"
#include "runtime/wire/call_stream_protocol.h"

namespace iw::fuzz {
namespace {

using internal::CallBatch;
using internal::ReplyBatch;

bool Canonical(int code) { return code >= 0 && code <= 16; }

grpc::ByteBuffer Bytes(const std::string& bytes) {
  grpc::Slice slice(bytes);
  return grpc::ByteBuffer(&slice, 1);
}

}  // namespace

std::vector<std::string> StructuredCallBatches(ByteReader& in,
                                               const iw::codegen::ServiceInfo& service,
                                               const CallBatchOptions& options,
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
    if (const uint64_t timeout_us = options.timeout_us(timeout); timeout_us != 0) {
      call->set_timeout_us(timeout_us);
    }
    if (timeout & 0x40) call->set_replace_after_ms_plus_one(in.Byte());
    if (timeout & 0x20) {
      internal::StreamMetadataEntry* entry = call->add_metadata();
      entry->set_key(in.Take(in.Byte() % 8));
      entry->set_value(in.Take(in.Byte() % 8));
    }
    call->set_request(in.Take(in.Byte() % options.request_modulus));
  }
  messages.push_back(batch.SerializeAsString());
  return messages;
}

std::vector<std::string> RawStreamMessages(uint8_t mode_byte, ByteReader& in) {
  std::vector<std::string> messages;
  const size_t parts = 1 + mode_byte % 4;
  const size_t chunk = in.size / parts + 1;
  for (size_t i = 0; i < parts; ++i) messages.push_back(in.Take(chunk));
  return messages;
}

void RunCallStream(grpc::Channel& channel, const std::vector<std::string>& messages,
                   bool small_replies, absl::Duration deadline, const std::vector<uint64_t>* ids,
                   CheckFunction check) {
  grpc::ClientContext context;
  context.AddMetadata(internal::kCallStreamVersionKey, internal::kCallStreamVersion);
  if (small_replies) context.AddMetadata(internal::kCallStreamMaxReplyKey, "16");
  context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>> stream(
      grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
          &channel,
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
    check(grpc::SerializationTraits<ReplyBatch>::Deserialize(&bytes, &batch).ok(),
          "a reply batch parses");
    for (const auto& reply : batch.replies()) {
      check(Canonical(reply.code()), "a reply has a canonical code");
      ++replies[reply.id()];
    }
  }
  grpc::Status status = stream->Finish();
  check(Canonical(status.error_code()), "the stream ends with a canonical status");
  check(status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED,
        "the stream ends well before its deadline (a handler ignores its own?)");
  if (ids != nullptr && status.ok()) {
    for (uint64_t id : *ids) check(replies[id] == 1, "every call gets exactly one reply");
    check(replies.size() == ids->size(), "no reply for an id that was not sent");
  }
}

}  // namespace iw::fuzz
