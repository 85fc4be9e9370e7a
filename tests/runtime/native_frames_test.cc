// The native carrier's frame codec (runtime/wire/native_frames.h): every
// frame kind survives Append* → ParseFrameHeader → Parse*, and every
// malformed header or body is refused with INVALID_ARGUMENT naming the frame
// and the field.
#include "runtime/wire/native_frames.h"

#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "catch2/catch.hpp"
#include "runtime/metadata.h"
#include "runtime/stream.h"
#include "tests/testing/status_matchers.h"

namespace {

using iw::Metadata;
using iw::internal::AppendCall;
using iw::internal::AppendCancel;
using iw::internal::AppendCredit;
using iw::internal::AppendGoAway;
using iw::internal::AppendHalfClose;
using iw::internal::AppendHello;
using iw::internal::AppendReply;
using iw::internal::AppendStreamMessage;
using iw::internal::AppendStreamOpen;
using iw::internal::CallFields;
using iw::internal::FrameBuffer;
using iw::internal::FrameHeader;
using iw::internal::FrameKind;
using iw::internal::kFrameHeaderBytes;
using iw::internal::kMaxFrameMetadata;
using iw::internal::kMaxFrameMethods;
using iw::internal::kNativeVersion;
using iw::internal::kPooledBufferBytes;
using iw::internal::ParseCall;
using iw::internal::ParseCancel;
using iw::internal::ParseCredit;
using iw::internal::ParseFrameHeader;
using iw::internal::ParseGoAway;
using iw::internal::ParseHalfClose;
using iw::internal::ParseHello;
using iw::internal::ParseReply;
using iw::internal::ParseStreamMessage;
using iw::internal::ParseStreamOpen;
using iw::internal::ReplyFields;
using iw::testing::IsOk;
using iw::testing::StatusIs;

using Entries = std::vector<std::pair<absl::string_view, absl::string_view>>;

constexpr size_t kNoLimit = std::numeric_limits<uint32_t>::max();
constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

// The body of the one frame in `frame`, after checking its header says
// `kind` and the body's true size.
// The frame's body, a view into `frame` (as the runtime parses it: views
// stay valid only while the frame lives).
absl::string_view BodyOf(const FrameBuffer& frame, FrameKind kind) {
  REQUIRE(frame.size() >= kFrameHeaderBytes);
  absl::StatusOr<FrameHeader> header = ParseFrameHeader(frame.data(), kNoLimit);
  REQUIRE_THAT(header.status(), IsOk());
  CHECK(header->kind == kind);
  REQUIRE(header->body_size == frame.size() - kFrameHeaderBytes);
  return absl::string_view(frame.data() + kFrameHeaderBytes, header->body_size);
}

// Appends a call frame carrying `payload`.
void AppendCallWith(const CallFields& call, absl::string_view payload, FrameBuffer* out) {
  char* at = AppendCall(call, payload.size(), out);
  if (!payload.empty()) std::memcpy(at, payload.data(), payload.size());
}
void AppendReplyWith(const ReplyFields& reply, absl::string_view payload, FrameBuffer* out) {
  char* at = AppendReply(reply, payload.size(), out);
  if (!payload.empty()) std::memcpy(at, payload.data(), payload.size());
}

Entries EntriesOf(const Metadata& metadata) {
  Entries entries;
  for (const auto& [key, value] : metadata) entries.emplace_back(key, value);
  return entries;
}

// A payload of `size` bytes that is not all alike.
std::string Payload(size_t size) {
  std::string payload(size, '\0');
  for (size_t i = 0; i < size; ++i) payload[i] = static_cast<char>((i * 131 + 7) & 0xff);
  return payload;
}

// Writes a body field by field, by hand, and remembers which field each byte
// belongs to: the oracle for the truncation and malformation cases.
class BodyWriter {
 public:
  void U32(uint32_t v, const std::string& field) {
    Mark(field);
    for (int i = 0; i < 4; ++i) bytes_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void U64(uint64_t v, const std::string& field) {
    Mark(field);
    for (int i = 0; i < 8; ++i) bytes_.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
  }
  void Str(absl::string_view s, const std::string& field) {
    U32(static_cast<uint32_t>(s.size()), field);
    Mark(field);
    bytes_.append(s.data(), s.size());
  }
  // A count: a truncation in the entries after it may name the count (the
  // parser checks a count against the bytes left before it reads entries).
  void Count(uint32_t n, const std::string& field) {
    U32(n, field);
    counts_.push_back({bytes_.size(), field});
  }
  void Raw(absl::string_view bytes, const std::string& field) {
    Mark(field);
    bytes_.append(bytes.data(), bytes.size());
  }
  const std::string& bytes() const { return bytes_; }

  // The fields a parser may name when the body is cut to `size` bytes: the
  // field that byte `size` belongs to, and the counts before it.
  std::vector<std::string> FieldsAt(size_t size) const {
    std::vector<std::string> names;
    for (const auto& [start, field] : fields_) {
      if (start <= size) names = {field};
    }
    for (const auto& [end, field] : counts_) {
      if (end <= size) names.push_back(field);
    }
    return names;
  }

 private:
  void Mark(const std::string& field) { fields_.push_back({bytes_.size(), field}); }

  std::string bytes_;
  std::vector<std::pair<size_t, std::string>> fields_;
  std::vector<std::pair<size_t, std::string>> counts_;
};

// The status of parsing `body` as a frame of `kind`.
absl::Status ParseAs(FrameKind kind, absl::string_view body) {
  switch (kind) {
    case FrameKind::kHello:
      return ParseHello(body).status();
    case FrameKind::kCall:
      return ParseCall(body).status();
    case FrameKind::kCancel:
      return ParseCancel(body).status();
    case FrameKind::kReply:
      return ParseReply(body).status();
    case FrameKind::kGoAway:
      return ParseGoAway(body).status();
    case FrameKind::kStreamOpen:
      return ParseStreamOpen(body).status();
    case FrameKind::kRequestMessage:
    case FrameKind::kResponseMessage:
      return ParseStreamMessage(kind, body).status();
    case FrameKind::kHalfClose:
      return ParseHalfClose(body).status();
    case FrameKind::kResponseCredit:
    case FrameKind::kRequestCredit:
      return ParseCredit(kind, body).status();
  }
  return absl::InternalError("unknown kind");
}

// Whether `status` names one of `fields`.
bool NamesOneOf(const absl::Status& status, const std::vector<std::string>& fields) {
  for (const std::string& field : fields) {
    if (absl::StrContains(status.message(), field)) return true;
  }
  return false;
}

// Every cut of `body` before `fields_end` (where a call's or reply's payload
// starts, or the body's size) fails, naming the frame and the field cut.
void CheckEveryTruncationFails(FrameKind kind, const BodyWriter& body, size_t fields_end) {
  const std::string prefix =
      absl::StrCat("malformed ", iw::internal::FrameKindName(kind), " frame: ");
  for (size_t size = 0; size < fields_end; ++size) {
    const absl::Status status = ParseAs(kind, absl::string_view(body.bytes()).substr(0, size));
    INFO("cut to " << size << " of " << body.bytes().size() << " bytes: " << status);
    CHECK_THAT(status, StatusIs(kInvalid, prefix));
    CHECK(NamesOneOf(status, body.FieldsAt(size)));
  }
}

TEST_CASE("Native frames: a hello round-trips with its limits and method paths",
          "[runtime][native_frames]") {
  const std::string long_path(1000, 'x');
  const std::vector<std::vector<absl::string_view>> tables = {
      {},
      {"/iwtest.TestService/Echo"},
      {"/a.B/C", "", "/iwtest.TestService/Sleep", long_path},
  };
  for (const auto& table : tables) {
    FrameBuffer frame;
    AppendHello(1024, uint64_t{1} << 40, table, &frame);
    const absl::string_view body = BodyOf(frame, FrameKind::kHello);
    auto hello = ParseHello(body);
    REQUIRE_THAT(hello.status(), IsOk());
    CHECK(hello->version == kNativeVersion);
    CHECK(hello->max_request_bytes == 1024);
    CHECK(hello->max_reply_bytes == uint64_t{1} << 40);
    CHECK(hello->method_paths == table);
  }
}

TEST_CASE("Native frames: a call round-trips with metadata and empty or 1 MiB payloads",
          "[runtime][native_frames]") {
  Metadata metadata = {
      {"b-key", "value"},
      {"a-bin", std::string("\0\xff\x01", 3)},
      {"b-key", "second value of the same key"},
      {"empty-value", ""},
  };
  const std::string payload = GENERATE(std::string(), std::string("x"), Payload(1 << 20));
  const bool with_metadata = GENERATE(false, true);
  INFO("payload " << payload.size() << " bytes, metadata " << with_metadata);

  CallFields fields;
  fields.id = 42;
  fields.method = 3;
  fields.timeout_us = std::numeric_limits<uint64_t>::max();
  fields.replace_after_ms_plus_one = 1;
  fields.request_id = "0123456789abcdef";
  fields.metadata = with_metadata ? &metadata : nullptr;
  FrameBuffer frame;
  AppendCallWith(fields, payload, &frame);
  const absl::string_view body = BodyOf(frame, FrameKind::kCall);

  auto call = ParseCall(body);
  REQUIRE_THAT(call.status(), IsOk());
  CHECK(call->id == 42);
  CHECK(call->method == 3);
  CHECK(call->timeout_us == std::numeric_limits<uint64_t>::max());
  CHECK(call->replace_after_ms_plus_one == 1);
  CHECK(call->request_id == "0123456789abcdef");
  CHECK(call->metadata == (with_metadata ? EntriesOf(metadata) : Entries()));
  CHECK(call->payload.size() == payload.size());
  CHECK(call->payload == payload);
}

TEST_CASE("Native frames: a call with no request id, no deadline and method 0 round-trips",
          "[runtime][native_frames]") {
  CallFields fields;
  fields.id = std::numeric_limits<uint64_t>::max();
  FrameBuffer frame;
  AppendCallWith(fields, "", &frame);
  auto call = ParseCall(BodyOf(frame, FrameKind::kCall));
  REQUIRE_THAT(call.status(), IsOk());
  CHECK(call->id == std::numeric_limits<uint64_t>::max());
  CHECK(call->method == 0);
  CHECK(call->timeout_us == 0);
  CHECK(call->replace_after_ms_plus_one == 0);
  CHECK(call->request_id.empty());
  CHECK(call->metadata.empty());
  CHECK(call->payload.empty());
}

TEST_CASE("Native frames: an OK reply round-trips with metadata and empty or 1 MiB payloads",
          "[runtime][native_frames]") {
  Metadata metadata = {{"x-served-by", "worker-1"}, {"trace-bin", std::string(300, '\0')}};
  const std::string payload = GENERATE(std::string(), Payload(1 << 20));
  const bool with_metadata = GENERATE(false, true);
  INFO("payload " << payload.size() << " bytes, metadata " << with_metadata);

  ReplyFields fields;
  fields.id = 7;
  fields.metadata = with_metadata ? &metadata : nullptr;
  FrameBuffer frame;
  AppendReplyWith(fields, payload, &frame);
  auto reply = ParseReply(BodyOf(frame, FrameKind::kReply));
  REQUIRE_THAT(reply.status(), IsOk());
  CHECK(reply->id == 7);
  CHECK(reply->code == 0);
  CHECK(reply->message.empty());
  CHECK(reply->details.empty());
  CHECK(reply->metadata == (with_metadata ? EntriesOf(metadata) : Entries()));
  CHECK(reply->payload == payload);
}

TEST_CASE("Native frames: an error reply round-trips with its message, details and metadata",
          "[runtime][native_frames]") {
  Metadata metadata = {{"retry-after", "5"}};
  const std::string details("\x08\x05\x12\x04gone\x1a\0", 10);
  for (uint32_t code = 1; code <= 16; ++code) {
    ReplyFields fields;
    fields.id = code * 1000;
    fields.code = code;
    fields.message = "the thing is gone";
    fields.details = details;
    fields.metadata = &metadata;
    FrameBuffer frame;
    AppendReplyWith(fields, "", &frame);
    auto reply = ParseReply(BodyOf(frame, FrameKind::kReply));
    INFO("code " << code);
    REQUIRE_THAT(reply.status(), IsOk());
    CHECK(reply->id == code * 1000);
    CHECK(reply->code == code);
    CHECK(reply->message == "the thing is gone");
    CHECK(reply->details == details);
    CHECK(reply->metadata == EntriesOf(metadata));
    CHECK(reply->payload.empty());
  }
}

TEST_CASE("Native frames: cancel and goaway round-trip", "[runtime][native_frames]") {
  for (uint64_t id : {uint64_t{1}, uint64_t{0x0102030405060708}, ~uint64_t{0}}) {
    FrameBuffer frame;
    AppendCancel(id, &frame);
    auto parsed = ParseCancel(BodyOf(frame, FrameKind::kCancel));
    REQUIRE_THAT(parsed.status(), IsOk());
    CHECK(*parsed == id);
  }
  for (const std::string& reason :
       {std::string(), std::string("malformed call frame: call id 0"), std::string(70000, 'r')}) {
    FrameBuffer frame;
    AppendGoAway(reason, &frame);
    auto parsed = ParseGoAway(BodyOf(frame, FrameKind::kGoAway));
    REQUIRE_THAT(parsed.status(), IsOk());
    CHECK(*parsed == reason);
  }
}

TEST_CASE("Native frames: frames appended to one buffer lie back to back, little-endian",
          "[runtime][native_frames]") {
  FrameBuffer frames;
  AppendCancel(0x1122334455667788, &frames);
  AppendGoAway("bye", &frames);
  CallFields call;
  call.id = 9;
  AppendCallWith(call, "payload", &frames);

  const std::string cancel_bytes("\x08\0\0\0\x03\0\0\0\x88\x77\x66\x55\x44\x33\x22\x11", 16);
  REQUIRE(frames.size() > cancel_bytes.size());
  CHECK(std::string(frames.data(), cancel_bytes.size()) == cancel_bytes);

  std::vector<FrameKind> kinds;
  size_t at = 0;
  while (at < frames.size()) {
    REQUIRE(frames.size() - at >= kFrameHeaderBytes);
    auto header = ParseFrameHeader(frames.data() + at, kNoLimit);
    REQUIRE_THAT(header.status(), IsOk());
    kinds.push_back(header->kind);
    at += kFrameHeaderBytes + header->body_size;
  }
  CHECK(at == frames.size());
  CHECK(kinds == std::vector<FrameKind>{FrameKind::kCancel, FrameKind::kGoAway, FrameKind::kCall});
}

TEST_CASE("Native frames: a header with an unknown kind is refused, naming the kind",
          "[runtime][native_frames]") {
  for (int kind : {0, 8, 0x7f, 0x80, 0x85, 0xff}) {
    const char header[8] = {0, 0, 0, 0, static_cast<char>(kind), 0, 0, 0};
    CHECK_THAT(
        ParseFrameHeader(header, kNoLimit).status(),
        StatusIs(kInvalid, absl::StrCat("malformed frame header: unknown frame kind ", kind)));
  }
}

TEST_CASE("Native frames: a header whose reserved bytes are not zero is refused",
          "[runtime][native_frames]") {
  for (int byte = 5; byte < 8; ++byte) {
    for (char value : {'\x01', '\x80', '\xff'}) {
      char header[8] = {4, 0, 0, 0, 0x02, 0, 0, 0};
      header[byte] = value;
      INFO("byte " << byte << " = " << static_cast<int>(static_cast<uint8_t>(value)));
      CHECK_THAT(ParseFrameHeader(header, kNoLimit).status(),
                 StatusIs(kInvalid, "the reserved bytes of a call frame are not zero"));
    }
  }
}

TEST_CASE("Native frames: a body over the limit is refused; one at the limit is not",
          "[runtime][native_frames]") {
  const char at_limit[8] = {0x00, 0x10, 0, 0, static_cast<char>(0x81), 0, 0, 0};  // 4096
  auto header = ParseFrameHeader(at_limit, 4096);
  REQUIRE_THAT(header.status(), IsOk());
  CHECK(header->kind == FrameKind::kReply);
  CHECK(header->body_size == 4096);
  CHECK_THAT(ParseFrameHeader(at_limit, 4095).status(),
             StatusIs(kInvalid, "a reply frame of 4096 bytes is over the limit of 4095"));

  const char huge[8] = {'\xff', '\xff', '\xff', '\xff', 0x01, 0, 0, 0};
  CHECK_THAT(ParseFrameHeader(huge, 1 << 20).status(),
             StatusIs(kInvalid, "a hello frame of 4294967295 bytes is over the limit of 1048576"));
}

// Bodies written field by field (the oracle), each the same bytes as the
// codec's own frame.

BodyWriter HelloBody(const std::vector<std::string>& paths) {
  BodyWriter w;
  w.U32(kNativeVersion, "version");
  w.U64(1000, "request limit");
  w.U64(2000, "reply limit");
  w.Count(static_cast<uint32_t>(paths.size()), "method count");
  for (const std::string& path : paths) w.Str(path, "method path");
  return w;
}

void MetadataFields(const Metadata& metadata, BodyWriter* w) {
  w->Count(static_cast<uint32_t>(metadata.size()), "metadata count");
  for (const auto& [key, value] : metadata) {
    w->Str(key, "metadata key");
    w->Str(value, "metadata value");
  }
}

BodyWriter CallBody(uint64_t id, const Metadata& metadata) {
  BodyWriter w;
  w.U64(id, "id");
  w.U32(2, "method index");
  w.U64(5000, "timeout");
  w.U64(0, "replace-after");
  w.Str("0123456789abcdef", "request id");
  MetadataFields(metadata, &w);
  return w;
}

BodyWriter ReplyBody(uint64_t id, uint32_t code, absl::string_view message,
                     absl::string_view details, const Metadata& metadata, uint64_t worker_us = 0) {
  BodyWriter w;
  w.U64(id, "id");
  w.U32(code, "status code");
  w.U64(worker_us, "worker time");
  w.Str(message, "status message");
  w.Str(details, "status details");
  MetadataFields(metadata, &w);
  return w;
}

TEST_CASE("Native frames: the hand-written oracle bodies are the codec's own bytes",
          "[runtime][native_frames]") {
  const Metadata metadata = {{"k", "v"}, {"key-2", "value 2"}};
  {
    FrameBuffer frame;
    AppendHello(1000, 2000, {"/a.B/C", "/a.B/D"}, &frame);
    CHECK(BodyOf(frame, FrameKind::kHello) == HelloBody({"/a.B/C", "/a.B/D"}).bytes());
  }
  {
    CallFields call;
    call.id = 5;
    call.method = 2;
    call.timeout_us = 5000;
    call.request_id = "0123456789abcdef";
    call.metadata = &metadata;
    FrameBuffer frame;
    AppendCallWith(call, "req", &frame);
    CHECK(BodyOf(frame, FrameKind::kCall) == CallBody(5, metadata).bytes() + "req");
  }
  {
    ReplyFields reply;
    reply.id = 5;
    reply.code = 3;
    reply.worker_us = 1234;
    reply.message = "bad";
    reply.details = "dd";
    reply.metadata = &metadata;
    FrameBuffer frame;
    AppendReplyWith(reply, "", &frame);
    CHECK(BodyOf(frame, FrameKind::kReply) == ReplyBody(5, 3, "bad", "dd", metadata, 1234).bytes());
    absl::StatusOr<iw::internal::ReplyView> parsed = ParseReply(BodyOf(frame, FrameKind::kReply));
    REQUIRE(parsed.ok());
    CHECK(parsed->worker_us == 1234);
  }
}

TEST_CASE("Native frames: a body cut at any byte before its payload is refused, naming the field",
          "[runtime][native_frames]") {
  const Metadata metadata = {{"k", "v"}, {"key-2", "a longer value"}, {"z-bin", ""}};
  SECTION("hello") {
    const BodyWriter body = HelloBody({"/a.B/C", "", "/iwtest.TestService/Echo"});
    REQUIRE_THAT(ParseHello(body.bytes()).status(), IsOk());
    CheckEveryTruncationFails(FrameKind::kHello, body, body.bytes().size());
  }
  SECTION("call") {
    const BodyWriter body = CallBody(5, metadata);
    REQUIRE_THAT(ParseCall(body.bytes()).status(), IsOk());
    CheckEveryTruncationFails(FrameKind::kCall, body, body.bytes().size());
  }
  SECTION("call without metadata") {
    const BodyWriter body = CallBody(5, {});
    CheckEveryTruncationFails(FrameKind::kCall, body, body.bytes().size());
  }
  SECTION("error reply") {
    const BodyWriter body = ReplyBody(5, 13, "internal", std::string(40, 'd'), metadata);
    REQUIRE_THAT(ParseReply(body.bytes()).status(), IsOk());
    CheckEveryTruncationFails(FrameKind::kReply, body, body.bytes().size());
  }
  SECTION("OK reply") {
    const BodyWriter body = ReplyBody(5, 0, "", "", metadata);
    REQUIRE_THAT(ParseReply(body.bytes()).status(), IsOk());
    CheckEveryTruncationFails(FrameKind::kReply, body, body.bytes().size());
  }
  SECTION("cancel") {
    BodyWriter body;
    body.U64(12, "id");
    CheckEveryTruncationFails(FrameKind::kCancel, body, body.bytes().size());
  }
  SECTION("goaway") {
    BodyWriter body;
    body.Str("the worker says no", "reason");
    CheckEveryTruncationFails(FrameKind::kGoAway, body, body.bytes().size());
  }
}

TEST_CASE("Native frames: a call or OK reply cut inside its payload is a shorter payload",
          "[runtime][native_frames]") {
  // The payload is the rest of the body: the frame header's size is what
  // delimits it, so only the header can say a payload was cut.
  BodyWriter call = CallBody(5, {{"k", "v"}});
  const size_t call_fields = call.bytes().size();
  call.Raw("abcdef", "payload");
  for (size_t size = call_fields; size <= call.bytes().size(); ++size) {
    auto parsed = ParseCall(absl::string_view(call.bytes()).substr(0, size));
    REQUIRE_THAT(parsed.status(), IsOk());
    CHECK(parsed->payload == absl::string_view("abcdef").substr(0, size - call_fields));
  }
  BodyWriter reply = ReplyBody(5, 0, "", "", {});
  const size_t reply_fields = reply.bytes().size();
  reply.Raw("abcdef", "payload");
  for (size_t size = reply_fields; size <= reply.bytes().size(); ++size) {
    auto parsed = ParseReply(absl::string_view(reply.bytes()).substr(0, size));
    REQUIRE_THAT(parsed.status(), IsOk());
    CHECK(parsed->payload == absl::string_view("abcdef").substr(0, size - reply_fields));
  }
}

TEST_CASE("Native frames: trailing bytes after a hello, cancel or goaway are refused",
          "[runtime][native_frames]") {
  BodyWriter hello = HelloBody({"/a.B/C"});
  hello.Raw("xyz", "trailing");
  CHECK_THAT(ParseHello(hello.bytes()).status(),
             StatusIs(kInvalid, "malformed hello frame: 3 unexpected bytes at the end"));

  BodyWriter cancel;
  cancel.U64(1, "id");
  cancel.Raw("x", "trailing");
  CHECK_THAT(ParseCancel(cancel.bytes()).status(),
             StatusIs(kInvalid, "malformed cancel frame: 1 unexpected bytes at the end"));

  BodyWriter goaway;
  goaway.Str("bye", "reason");
  goaway.Raw(std::string(9, '\0'), "trailing");
  CHECK_THAT(ParseGoAway(goaway.bytes()).status(),
             StatusIs(kInvalid, "malformed goaway frame: 9 unexpected bytes at the end"));
}

TEST_CASE("Native frames: call id 0 is refused in calls, cancels and replies",
          "[runtime][native_frames]") {
  CHECK_THAT(ParseCall(CallBody(0, {}).bytes()).status(),
             StatusIs(kInvalid, "malformed call frame: call id 0"));
  BodyWriter cancel;
  cancel.U64(0, "id");
  CHECK_THAT(ParseCancel(cancel.bytes()).status(),
             StatusIs(kInvalid, "malformed cancel frame: call id 0"));
  CHECK_THAT(ParseReply(ReplyBody(0, 0, "", "", {}).bytes()).status(),
             StatusIs(kInvalid, "malformed reply frame: call id 0"));
}

TEST_CASE("Native frames: counts larger than the body or the maximum are refused",
          "[runtime][native_frames]") {
  SECTION("method count larger than the body") {
    BodyWriter w;
    w.U32(kNativeVersion, "version");
    w.U64(1, "request limit");
    w.U64(1, "reply limit");
    w.U32(3, "method count");
    w.Str("/a.B/C", "method path");
    w.Raw("\0\0\0", "short");  // 3 bytes: not even one more empty path
    CHECK_THAT(ParseHello(w.bytes()).status(),
               StatusIs(kInvalid,
                        "malformed hello frame: method count is 3, more than the "
                        "frame can hold"));
  }
  SECTION("method count over the maximum, with room for every path") {
    BodyWriter w;
    w.U32(kNativeVersion, "version");
    w.U64(1, "request limit");
    w.U64(1, "reply limit");
    w.U32(kMaxFrameMethods + 1, "method count");
    w.Raw(std::string(4 * (kMaxFrameMethods + 1), '\0'), "empty paths");
    CHECK_THAT(ParseHello(w.bytes()).status(),
               StatusIs(kInvalid, absl::StrCat("method count is ", kMaxFrameMethods + 1)));
  }
  SECTION("method count at the maximum") {
    BodyWriter w;
    w.U32(kNativeVersion, "version");
    w.U64(1, "request limit");
    w.U64(1, "reply limit");
    w.U32(kMaxFrameMethods, "method count");
    w.Raw(std::string(4 * kMaxFrameMethods, '\0'), "empty paths");
    auto hello = ParseHello(w.bytes());
    REQUIRE_THAT(hello.status(), IsOk());
    CHECK(hello->method_paths.size() == kMaxFrameMethods);
  }
  SECTION("metadata count larger than the body") {
    BodyWriter w = CallBody(1, {});
    // Replace the count 0 at the end by 2, with one entry's worth of bytes.
    std::string bytes = w.bytes().substr(0, w.bytes().size() - 4);
    bytes += std::string("\x02\0\0\0", 4) + std::string("\x01\0\0\0k\0\0\0\0", 9);
    CHECK_THAT(ParseCall(bytes).status(),
               StatusIs(kInvalid,
                        "malformed call frame: metadata count is 2, more than the "
                        "frame can hold"));
  }
  SECTION("metadata count over the maximum, with room for every entry") {
    std::string bytes = CallBody(1, {}).bytes();
    bytes.resize(bytes.size() - 4);
    const uint32_t n = kMaxFrameMetadata + 1;
    bytes += std::string{static_cast<char>(n & 0xff), static_cast<char>(n >> 8), 0, 0};
    bytes += std::string(8 * n, '\0');
    CHECK_THAT(ParseCall(bytes).status(),
               StatusIs(kInvalid, absl::StrCat("metadata count is ", n)));
  }
  SECTION("a string longer than the rest of the body") {
    BodyWriter w;
    w.U64(1, "id");
    w.U32(0, "method index");
    w.U64(0, "timeout");
    w.U64(0, "replace-after");
    w.U32(100, "request id");
    w.Raw("only ten b", "request id bytes");
    CHECK_THAT(ParseCall(w.bytes()).status(),
               StatusIs(kInvalid,
                        "malformed call frame: request id is 100 bytes but only 10 "
                        "remain"));
    BodyWriter goaway;
    goaway.U32(0xffffffff, "reason");
    CHECK_THAT(ParseGoAway(goaway.bytes()).status(),
               StatusIs(kInvalid,
                        "malformed goaway frame: reason is 4294967295 bytes but only 0 "
                        "remain"));
  }
}

TEST_CASE("Native frames: an empty metadata key is refused", "[runtime][native_frames]") {
  CHECK_THAT(ParseCall(CallBody(1, {{"", "value"}}).bytes()).status(),
             StatusIs(kInvalid, "malformed call frame: a metadata key is empty"));
  CHECK_THAT(ParseReply(ReplyBody(1, 0, "", "", {{"ok", "1"}, {"", ""}}).bytes()).status(),
             StatusIs(kInvalid, "malformed reply frame: a metadata key is empty"));
}

TEST_CASE("Native frames: replies with an impossible status are refused",
          "[runtime][native_frames]") {
  SECTION("a code out of google.rpc.Code's range") {
    for (uint32_t code : {17u, 100u, 0xffffffffu}) {
      CHECK_THAT(ParseReply(ReplyBody(1, code, "m", "", {}).bytes()).status(),
                 StatusIs(kInvalid, absl::StrCat("malformed reply frame: status code ", code,
                                                 " is not a google.rpc.Code")));
    }
  }
  SECTION("an error code with a reply message (payload)") {
    BodyWriter w = ReplyBody(1, 5, "not found", "", {});
    w.Raw("abc", "payload");
    CHECK_THAT(ParseReply(w.bytes()).status(),
               StatusIs(kInvalid,
                        "malformed reply frame: a reply with status code 5 carries 3 "
                        "bytes of message"));
  }
  SECTION("an OK reply with a status message or details") {
    CHECK_THAT(ParseReply(ReplyBody(1, 0, "fine", "", {}).bytes()).status(),
               StatusIs(kInvalid, "malformed reply frame: an OK reply carries a status message"));
    CHECK_THAT(ParseReply(ReplyBody(1, 0, "", "d", {}).bytes()).status(),
               StatusIs(kInvalid, "malformed reply frame: an OK reply carries status details"));
  }
}

TEST_CASE("Native frames: an empty body is refused for every kind", "[runtime][native_frames]") {
  for (FrameKind kind : {FrameKind::kHello, FrameKind::kCall, FrameKind::kCancel, FrameKind::kReply,
                         FrameKind::kGoAway, FrameKind::kStreamOpen, FrameKind::kRequestMessage,
                         FrameKind::kHalfClose, FrameKind::kResponseCredit,
                         FrameKind::kResponseMessage, FrameKind::kRequestCredit}) {
    CHECK_THAT(ParseAs(kind, ""),
               StatusIs(kInvalid, absl::StrCat("malformed ", iw::internal::FrameKindName(kind),
                                               " frame: truncated at the ")));
  }
}

// ---- Streams ----

TEST_CASE("Native frames: a stream open round-trips with the fields of a call and no payload",
          "[runtime][native_frames]") {
  const Metadata metadata = {{"k", "v"}, {"key-2", "value 2"}};
  CallFields open;
  open.id = 77;
  open.method = 3;
  open.timeout_us = 123456;
  open.replace_after_ms_plus_one = 9;
  open.request_id = "0123456789abcdef";
  open.metadata = &metadata;
  FrameBuffer frame;
  AppendStreamOpen(open, &frame);
  auto parsed = ParseStreamOpen(BodyOf(frame, FrameKind::kStreamOpen));
  REQUIRE_THAT(parsed.status(), IsOk());
  CHECK(parsed->id == 77);
  CHECK(parsed->method == 3);
  CHECK(parsed->timeout_us == 123456);
  CHECK(parsed->replace_after_ms_plus_one == 9);
  CHECK(parsed->request_id == "0123456789abcdef");
  CHECK(parsed->metadata == EntriesOf(metadata));
  CHECK(parsed->payload.empty());
  // Byte for byte a call's fields.
  open.method = 2;
  open.timeout_us = 5000;
  open.replace_after_ms_plus_one = 0;
  FrameBuffer same_as_call;
  AppendStreamOpen(open, &same_as_call);
  CHECK(BodyOf(same_as_call, FrameKind::kStreamOpen) == CallBody(77, metadata).bytes());
}

TEST_CASE("Native frames: stream messages round-trip both ways with empty or 1 MiB payloads",
          "[runtime][native_frames]") {
  const FrameKind kind = GENERATE(FrameKind::kRequestMessage, FrameKind::kResponseMessage);
  const std::string payload = Payload(GENERATE(size_t{0}, size_t{1}, size_t{1} << 20));
  FrameBuffer frame;
  char* at = AppendStreamMessage(kind, 42, payload.size(), &frame);
  if (!payload.empty()) std::memcpy(at, payload.data(), payload.size());
  auto parsed = ParseStreamMessage(kind, BodyOf(frame, kind));
  REQUIRE_THAT(parsed.status(), IsOk());
  CHECK(parsed->id == 42);
  CHECK(parsed->payload == payload);
}

TEST_CASE("Native frames: half-close and credits round-trip", "[runtime][native_frames]") {
  FrameBuffer frame;
  AppendHalfClose(9, &frame);
  auto half_close = ParseHalfClose(BodyOf(frame, FrameKind::kHalfClose));
  REQUIRE_THAT(half_close.status(), IsOk());
  CHECK(*half_close == 9);
  for (FrameKind kind : {FrameKind::kResponseCredit, FrameKind::kRequestCredit}) {
    for (uint32_t n : {uint32_t{1}, static_cast<uint32_t>(iw::kStreamWindow)}) {
      FrameBuffer credit_frame;
      AppendCredit(kind, 1ull << 40, n, &credit_frame);
      auto credit = ParseCredit(kind, BodyOf(credit_frame, kind));
      REQUIRE_THAT(credit.status(), IsOk());
      CHECK(credit->id == 1ull << 40);
      CHECK(credit->n == n);
    }
  }
}

TEST_CASE("Native frames: stream frames cut at any byte are refused, naming the field",
          "[runtime][native_frames]") {
  SECTION("stream open") {
    const BodyWriter body = CallBody(5, {{"k", "v"}});
    CheckEveryTruncationFails(FrameKind::kStreamOpen, body, body.bytes().size());
  }
  SECTION("request and response messages") {
    BodyWriter body;
    body.U64(12, "id");
    CheckEveryTruncationFails(FrameKind::kRequestMessage, body, body.bytes().size());
    CheckEveryTruncationFails(FrameKind::kResponseMessage, body, body.bytes().size());
  }
  SECTION("half-close") {
    BodyWriter body;
    body.U64(12, "id");
    CheckEveryTruncationFails(FrameKind::kHalfClose, body, body.bytes().size());
  }
  SECTION("credits") {
    BodyWriter body;
    body.U64(12, "id");
    body.U32(3, "credit");
    CheckEveryTruncationFails(FrameKind::kResponseCredit, body, body.bytes().size());
    CheckEveryTruncationFails(FrameKind::kRequestCredit, body, body.bytes().size());
  }
}

TEST_CASE("Native frames: a stream open, half-close or credit with trailing bytes is refused",
          "[runtime][native_frames]") {
  BodyWriter open = CallBody(5, {});
  open.Raw("req", "payload");
  CHECK_THAT(ParseStreamOpen(open.bytes()).status(),
             StatusIs(kInvalid, "malformed stream open frame: 3 unexpected bytes at the end"));
  BodyWriter half_close;
  half_close.U64(5, "id");
  half_close.Raw("x", "trailing");
  CHECK_THAT(ParseHalfClose(half_close.bytes()).status(),
             StatusIs(kInvalid, "malformed half-close frame: 1 unexpected bytes at the end"));
  BodyWriter credit;
  credit.U64(5, "id");
  credit.U32(1, "credit");
  credit.Raw("xy", "trailing");
  CHECK_THAT(ParseCredit(FrameKind::kRequestCredit, credit.bytes()).status(),
             StatusIs(kInvalid, "malformed request credit frame: 2 unexpected bytes at the end"));
}

TEST_CASE("Native frames: stream id 0 is refused in every stream frame",
          "[runtime][native_frames]") {
  CHECK_THAT(ParseStreamOpen(CallBody(0, {}).bytes()).status(),
             StatusIs(kInvalid, "malformed stream open frame: stream open id 0"));
  BodyWriter id0;
  id0.U64(0, "id");
  CHECK_THAT(ParseStreamMessage(FrameKind::kRequestMessage, id0.bytes()).status(),
             StatusIs(kInvalid, "malformed request message frame: stream id 0"));
  CHECK_THAT(ParseStreamMessage(FrameKind::kResponseMessage, id0.bytes()).status(),
             StatusIs(kInvalid, "malformed response message frame: stream id 0"));
  CHECK_THAT(ParseHalfClose(id0.bytes()).status(),
             StatusIs(kInvalid, "malformed half-close frame: stream id 0"));
  id0.U32(1, "credit");
  CHECK_THAT(ParseCredit(FrameKind::kResponseCredit, id0.bytes()).status(),
             StatusIs(kInvalid, "malformed response credit frame: stream id 0"));
}

TEST_CASE("Native frames: a credit of 0 or of more than the window is refused",
          "[runtime][native_frames]") {
  for (uint32_t n : {uint32_t{0}, static_cast<uint32_t>(iw::kStreamWindow) + 1, UINT32_MAX}) {
    BodyWriter credit;
    credit.U64(5, "id");
    credit.U32(n, "credit");
    CHECK_THAT(ParseCredit(FrameKind::kRequestCredit, credit.bytes()).status(),
               StatusIs(kInvalid, absl::StrCat("malformed request credit frame: a credit of ", n,
                                               " messages (from 1 to ", iw::kStreamWindow, ")")));
  }
}

TEST_CASE("FrameBuffer: Extend keeps the contents, Consume keeps the tail, ShrinkIfAbove frees",
          "[runtime][native_frames]") {
  FrameBuffer buffer;
  CHECK(buffer.empty());
  std::memcpy(buffer.Extend(3), "abc", 3);
  std::memcpy(buffer.Extend(100000), Payload(100000).data(), 100000);
  REQUIRE(buffer.size() == 100003);
  CHECK(std::string(buffer.data(), 3) == "abc");
  CHECK(std::string(buffer.data() + 3, 100000) == Payload(100000));
  buffer.Consume(3);
  CHECK(buffer.size() == 100000);
  CHECK(std::string(buffer.data(), 100000) == Payload(100000));
  buffer.Consume(200000);
  CHECK(buffer.empty());

  FrameBuffer moved(std::move(buffer));
  CHECK(moved.capacity() >= 100003);
  CHECK(buffer.capacity() == 0);  // NOLINT(bugprone-use-after-move): documented state
  moved.ShrinkIfAbove(1 << 20);
  CHECK(moved.capacity() >= 100003);
  moved.ShrinkIfAbove(4096);
  CHECK(moved.capacity() == 0);
}

TEST_CASE(
    "FrameBuffer: a large buffer goes back to the pool and the next one of a similar size "
    "reuses it, a small one does not",
    "[native_frames]") {
  const char* large;
  {
    FrameBuffer first;
    first.Reserve(3 * kPooledBufferBytes);
    large = first.data();
  }
  FrameBuffer again;
  again.Reserve(3 * kPooledBufferBytes - 100);  // within 2x: reused
  CHECK(again.data() == large);
  CHECK(again.capacity() == 3 * kPooledBufferBytes);
  // Far smaller: not worth a buffer twice its size, so a fresh one.
  FrameBuffer small_one;
  small_one.Reserve(kPooledBufferBytes);
  CHECK(small_one.data() != large);
  // Contents survive growth from a pooled buffer into another.
  std::memcpy(again.Extend(5), "hello", 5);
  again.Reserve(7 * kPooledBufferBytes);
  CHECK(absl::string_view(again.data(), again.size()) == "hello");
}

}  // namespace
