// Fuzz target: the native carrier's frame codec (runtime/wire/native_frames.h)
// on hostile bytes, which is what either end of a native connection reads
// from its peer.
//
// Input: the bytes are read twice.
// - As one frame body of each kind: ParseHello, ParseCall, ParseCancel,
//   ParseReply, ParseGoAway and the stream frames' parsers (ParseStreamOpen,
//   ParseStreamMessage, ParseHalfClose, ParseCredit) each get the whole
//   input.
// - As a stream of frames: ParseFrameHeader on the next 8 bytes, then the
//   Parse* of its kind on its body (cut short if the input ends first),
//   until the input ends or a header is refused.
//
// Invariants checked: no crash or sanitizer report; a refusal is
// INVALID_ARGUMENT naming the frame ("malformed ..."); every frame that
// parses is re-encoded with the Append* functions and parses again to the
// same fields (a structured round trip), and to the same bytes when the
// original was in the encoder's canonical form (hello version kNativeVersion,
// metadata sorted by key, since iw::Metadata is a multimap); a header valid
// without a size limit is valid with any limit at least its body size.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/string_view.h"
#include "fuzz/fuzz_target.h"
#include "runtime/metadata.h"
#include "runtime/stream.h"
#include "runtime/wire/native_frames.h"

namespace {

using iw::internal::FrameBuffer;
using iw::internal::FrameHeader;
using iw::internal::FrameKind;
using iw::internal::kFrameHeaderBytes;
using Entries = std::vector<std::pair<absl::string_view, absl::string_view>>;

constexpr size_t kNoLimit = std::numeric_limits<uint32_t>::max();

// Aborts (a finding) if `condition` is false.
void Check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "native_frames_fuzzer: invariant violated: %s\n", what);
    std::abort();
  }
}

// A refusal must be INVALID_ARGUMENT and say which frame was malformed.
void CheckRefusal(const absl::Status& status) {
  Check(status.code() == absl::StatusCode::kInvalidArgument, "a refusal is INVALID_ARGUMENT");
  Check(absl::StartsWith(status.message(), "malformed "), "a refusal says \"malformed\"");
}

// The body of the one frame in `frame`, checking its header says `kind`.
absl::string_view ReencodedBody(const FrameBuffer& frame, FrameKind kind) {
  Check(frame.size() >= kFrameHeaderBytes, "a re-encoded frame has a header");
  absl::StatusOr<FrameHeader> header = iw::internal::ParseFrameHeader(frame.data(), kNoLimit);
  Check(header.ok(), "a re-encoded header parses");
  Check(header->kind == kind, "a re-encoded header keeps the kind");
  Check(header->body_size == frame.size() - kFrameHeaderBytes,
        "a re-encoded header gives the body's size");
  return absl::string_view(frame.data() + kFrameHeaderBytes, header->body_size);
}

// `entries` as the encoder's input, and whether they were in its order.
iw::Metadata MetadataOf(const Entries& entries, bool* canonical) {
  iw::Metadata metadata;
  for (const auto& [key, value] : entries) {
    metadata.emplace(std::string(key), std::string(value));
  }
  Entries sorted = entries;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  *canonical = sorted == entries;
  return metadata;
}

// The entries the encoder writes for `metadata` (in the multimap's order).
Entries EntriesOf(const iw::Metadata& metadata) {
  Entries entries;
  for (const auto& [key, value] : metadata) entries.emplace_back(key, value);
  return entries;
}

void CheckHello(absl::string_view body) {
  auto hello = iw::internal::ParseHello(body);
  if (!hello.ok()) return CheckRefusal(hello.status());
  FrameBuffer frame;
  iw::internal::AppendHello(hello->max_request_bytes, hello->max_reply_bytes, hello->method_paths,
                            &frame);
  const absl::string_view again_body = ReencodedBody(frame, FrameKind::kHello);
  auto again = iw::internal::ParseHello(again_body);
  Check(again.ok(), "a re-encoded hello parses");
  Check(again->version == iw::internal::kNativeVersion, "AppendHello writes our version");
  Check(again->max_request_bytes == hello->max_request_bytes, "hello: request limit");
  Check(again->max_reply_bytes == hello->max_reply_bytes, "hello: reply limit");
  Check(again->method_paths == hello->method_paths, "hello: method paths");
  if (hello->version == iw::internal::kNativeVersion) {
    Check(again_body == body, "a canonical hello re-encodes to the same bytes");
  }
}

void CheckCall(absl::string_view body, FrameKind kind = FrameKind::kCall) {
  const bool open = kind == FrameKind::kStreamOpen;
  auto call = open ? iw::internal::ParseStreamOpen(body) : iw::internal::ParseCall(body);
  if (!call.ok()) return CheckRefusal(call.status());
  bool canonical = false;
  const iw::Metadata metadata = MetadataOf(call->metadata, &canonical);
  iw::internal::CallFields fields;
  fields.id = call->id;
  fields.method = call->method;
  fields.timeout_us = call->timeout_us;
  fields.replace_after_ms_plus_one = call->replace_after_ms_plus_one;
  fields.request_id = call->request_id;
  fields.metadata = &metadata;
  FrameBuffer frame;
  if (open) {
    Check(call->payload.empty(), "a stream open carries no payload");
    iw::internal::AppendStreamOpen(fields, &frame);
  } else {
    char* payload = iw::internal::AppendCall(fields, call->payload.size(), &frame);
    if (!call->payload.empty()) std::memcpy(payload, call->payload.data(), call->payload.size());
  }
  const absl::string_view again_body = ReencodedBody(frame, kind);
  auto again =
      open ? iw::internal::ParseStreamOpen(again_body) : iw::internal::ParseCall(again_body);
  Check(again.ok(), "a re-encoded call parses");
  Check(again->id == call->id, "call: id");
  Check(again->method == call->method, "call: method index");
  Check(again->timeout_us == call->timeout_us, "call: timeout");
  Check(again->replace_after_ms_plus_one == call->replace_after_ms_plus_one, "call: replace-after");
  Check(again->request_id == call->request_id, "call: request id");
  Check(again->metadata == EntriesOf(metadata), "call: metadata");
  Check(again->payload == call->payload, "call: payload");
  if (canonical) Check(again_body == body, "a canonical call re-encodes to the same bytes");
}

void CheckCancel(absl::string_view body) {
  auto id = iw::internal::ParseCancel(body);
  if (!id.ok()) return CheckRefusal(id.status());
  Check(*id != 0, "a cancel's id is not 0");
  FrameBuffer frame;
  iw::internal::AppendCancel(*id, &frame);
  const absl::string_view again_body = ReencodedBody(frame, FrameKind::kCancel);
  auto again = iw::internal::ParseCancel(again_body);
  Check(again.ok() && *again == *id, "cancel: id");
  Check(again_body == body, "a cancel re-encodes to the same bytes");
}

void CheckReply(absl::string_view body) {
  auto reply = iw::internal::ParseReply(body);
  if (!reply.ok()) return CheckRefusal(reply.status());
  Check(reply->code <= 16, "a reply's code is a google.rpc.Code");
  Check(reply->code == 0 || reply->payload.empty(), "an error reply carries no message");
  bool canonical = false;
  const iw::Metadata metadata = MetadataOf(reply->metadata, &canonical);
  iw::internal::ReplyFields fields;
  fields.id = reply->id;
  fields.code = reply->code;
  fields.worker_us = reply->worker_us;
  fields.message = reply->message;
  fields.details = reply->details;
  fields.metadata = &metadata;
  FrameBuffer frame;
  char* payload = iw::internal::AppendReply(fields, reply->payload.size(), &frame);
  if (!reply->payload.empty()) {
    std::memcpy(payload, reply->payload.data(), reply->payload.size());
  }
  const absl::string_view again_body = ReencodedBody(frame, FrameKind::kReply);
  auto again = iw::internal::ParseReply(again_body);
  Check(again.ok(), "a re-encoded reply parses");
  Check(again->id == reply->id, "reply: id");
  Check(again->code == reply->code, "reply: status code");
  Check(again->worker_us == reply->worker_us, "reply: worker time");
  Check(again->message == reply->message, "reply: status message");
  Check(again->details == reply->details, "reply: status details");
  Check(again->metadata == EntriesOf(metadata), "reply: metadata");
  Check(again->payload == reply->payload, "reply: payload");
  if (canonical) Check(again_body == body, "a canonical reply re-encodes to the same bytes");
}

void CheckGoAway(absl::string_view body) {
  auto reason = iw::internal::ParseGoAway(body);
  if (!reason.ok()) return CheckRefusal(reason.status());
  FrameBuffer frame;
  iw::internal::AppendGoAway(*reason, &frame);
  const absl::string_view again_body = ReencodedBody(frame, FrameKind::kGoAway);
  auto again = iw::internal::ParseGoAway(again_body);
  Check(again.ok() && *again == *reason, "goaway: reason");
  Check(again_body == body, "a goaway re-encodes to the same bytes");
}

void CheckStreamMessage(FrameKind kind, absl::string_view body) {
  auto message = iw::internal::ParseStreamMessage(kind, body);
  if (!message.ok()) return CheckRefusal(message.status());
  Check(message->id != 0, "a stream message's id is not 0");
  FrameBuffer frame;
  char* payload =
      iw::internal::AppendStreamMessage(kind, message->id, message->payload.size(), &frame);
  if (!message->payload.empty()) {
    std::memcpy(payload, message->payload.data(), message->payload.size());
  }
  const absl::string_view again_body = ReencodedBody(frame, kind);
  auto again = iw::internal::ParseStreamMessage(kind, again_body);
  Check(again.ok() && again->id == message->id, "stream message: id");
  Check(again->payload == message->payload, "stream message: payload");
  Check(again_body == body, "a stream message re-encodes to the same bytes");
}

void CheckHalfClose(absl::string_view body) {
  auto id = iw::internal::ParseHalfClose(body);
  if (!id.ok()) return CheckRefusal(id.status());
  Check(*id != 0, "a half-close's id is not 0");
  FrameBuffer frame;
  iw::internal::AppendHalfClose(*id, &frame);
  const absl::string_view again_body = ReencodedBody(frame, FrameKind::kHalfClose);
  auto again = iw::internal::ParseHalfClose(again_body);
  Check(again.ok() && *again == *id, "half-close: id");
  Check(again_body == body, "a half-close re-encodes to the same bytes");
}

void CheckCredit(FrameKind kind, absl::string_view body) {
  auto credit = iw::internal::ParseCredit(kind, body);
  if (!credit.ok()) return CheckRefusal(credit.status());
  Check(credit->id != 0, "a credit's id is not 0");
  Check(credit->n >= 1 && credit->n <= static_cast<uint32_t>(iw::kStreamWindow),
        "a credit is within the window");
  FrameBuffer frame;
  iw::internal::AppendCredit(kind, credit->id, credit->n, &frame);
  const absl::string_view again_body = ReencodedBody(frame, kind);
  auto again = iw::internal::ParseCredit(kind, again_body);
  Check(again.ok() && again->id == credit->id && again->n == credit->n, "credit: id and n");
  Check(again_body == body, "a credit re-encodes to the same bytes");
}

void CheckBody(FrameKind kind, absl::string_view body) {
  switch (kind) {
    case FrameKind::kStreamOpen:
      return CheckCall(body, kind);
    case FrameKind::kRequestMessage:
    case FrameKind::kResponseMessage:
      return CheckStreamMessage(kind, body);
    case FrameKind::kHalfClose:
      return CheckHalfClose(body);
    case FrameKind::kResponseCredit:
    case FrameKind::kRequestCredit:
      return CheckCredit(kind, body);
    case FrameKind::kHello:
      return CheckHello(body);
    case FrameKind::kCall:
      return CheckCall(body);
    case FrameKind::kCancel:
      return CheckCancel(body);
    case FrameKind::kReply:
      return CheckReply(body);
    case FrameKind::kGoAway:
      return CheckGoAway(body);
  }
  Check(false, "ParseFrameHeader returned a known kind");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);

  // The whole input as one body of each kind.
  for (FrameKind kind : {FrameKind::kHello, FrameKind::kCall, FrameKind::kCancel, FrameKind::kReply,
                         FrameKind::kGoAway, FrameKind::kStreamOpen, FrameKind::kRequestMessage,
                         FrameKind::kHalfClose, FrameKind::kResponseCredit,
                         FrameKind::kResponseMessage, FrameKind::kRequestCredit}) {
    CheckBody(kind, input);
  }

  // The input as a stream of frames.
  absl::string_view rest = input;
  while (rest.size() >= kFrameHeaderBytes) {
    auto header = iw::internal::ParseFrameHeader(rest.data(), kNoLimit);
    const size_t available = rest.size() - kFrameHeaderBytes;
    auto bounded = iw::internal::ParseFrameHeader(rest.data(), available);
    if (!header.ok()) {
      CheckRefusal(header.status());
      Check(!bounded.ok(), "a header refused without a limit is refused with one");
      return 0;
    }
    Check(bounded.ok() == (header->body_size <= available),
          "a header within the limit is accepted, one over it refused");
    if (!bounded.ok()) {
      CheckRefusal(bounded.status());
      Check(absl::StrContains(bounded.status().message(), "over the limit"),
            "an oversized frame is refused for its size");
    }
    rest.remove_prefix(kFrameHeaderBytes);
    const size_t body_size = std::min<size_t>(header->body_size, rest.size());
    CheckBody(header->kind, rest.substr(0, body_size));
    rest.remove_prefix(body_size);
  }
  return 0;
}
