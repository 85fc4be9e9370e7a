// Fuzz target: the worker end of the native carrier
// (worker/native_carrier.h) fed hostile bytes through a real socketpair,
// with the Dispatcher serving TestService (safe handlers) in this process.
//
// Input: the first byte picks a mode.
// - Raw (bit 0x80 set): a valid hello (with a small reply limit if bit 0x40
//   is set), then the rest of the input as it is.
// - Structured: the rest is read as a list of operations, each turned into a
//   frame: calls (method index, id, timeout, request id, metadata, request
//   bytes; sometimes an index beyond the table or a duplicate id), cancels,
//   streams (a stream open, of the bidi echo method appended to TestService
//   or of a unary one; request messages, half-closes, credits to a stream
//   or to any id), and now and then a frame that breaks the protocol (a
//   second hello, a frame only the worker sends, a truncated body, a bad
//   header). The hello comes first unless bit 0x40 is set.
// Then the fuzzer half-closes its end and reads everything up to EOF.
//
// Invariants checked (a violation aborts): no crash or sanitizer report; the
// worker ends the connection (EOF) and the carrier ends (WaitDone) before a
// deadline; every frame it sends parses (replies, at most one GoAway); a
// reply answers an id that was sent, never more often than it was sent, with
// a canonical code; the carrier ends OK without a GoAway, or with the
// GoAway's reason; with only valid frames sent (unique ids, no violation),
// every call and stream gets exactly one reply; the worker's stream messages
// and credits name streams that were opened. (The ids are not checked once
// raw bytes went out: a call may hide in them.)
#include <sys/socket.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "fuzz/byte_reader.h"
#include "fuzz/fuzz_target.h"
#include "fuzz/safe_handlers.h"
#include "google/protobuf/stubs/logging.h"
#include "runtime/stream.h"
#include "runtime/worker/dispatcher.h"
#include "runtime/worker/native_carrier.h"
#include "tests/e2e/native_peer.h"

namespace {

// The input being run, printed in hex when an invariant fails (the smoke
// driver keeps no crash files).
const uint8_t* g_input = nullptr;
size_t g_input_size = 0;

void Check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "input (%zu bytes):", g_input_size);
    for (size_t i = 0; i < g_input_size; ++i) std::fprintf(stderr, " %02x", g_input[i]);
    std::fprintf(stderr, "\n");
  }
  iw::fuzz::Check(condition, what);
}
using iw::internal::FrameBuffer;
using iw::internal::FrameKind;

// A bidi method appended to TestService: every request back, as a reply.
absl::Status FuzzEcho(void*, iw::CallContext&, const google::protobuf::MessageLite*,
                      iw::internal::StreamIo& io, google::protobuf::MessageLite*) {
  iw::StreamReader<iwtest::EchoRequest> reader(&io);
  iw::StreamWriter<iwtest::EchoReply> writer(&io);
  iwtest::EchoRequest request;
  while (reader.Read(&request)) {
    iwtest::EchoReply reply;
    reply.set_text(request.text());
    if (!writer.Write(reply)) break;
  }
  return absl::OkStatus();
}

// TestService's binding with FuzzEcho appended (index `stream_method`).
struct WithStream {
  explicit WithStream(const iw::codegen::ServiceBinding& base)
      : stream_method(base.service->method_count) {
    infos.assign(base.service->methods, base.service->methods + stream_method);
    iw::codegen::MethodInfo echo{};
    echo.name = "FuzzEcho";
    echo.path = "/iwtest.TestService/FuzzEcho";
    echo.deadline_grace_ms = -1;
    echo.client_streaming = true;
    echo.server_streaming = true;
    infos.push_back(echo);
    handlers.assign(base.methods, base.methods + stream_method);
    handlers.push_back({&iwtest::EchoRequest::default_instance(),
                        &iwtest::EchoReply::default_instance(), nullptr, &FuzzEcho});
    service = *base.service;
    service.methods = infos.data();
    service.method_count = stream_method + 1;
    binding = {&service, handlers.data(), base.handler};
  }
  const int stream_method;
  std::vector<iw::codegen::MethodInfo> infos;
  std::vector<iw::codegen::MethodHandler> handlers;
  iw::codegen::ServiceInfo service;
  iw::codegen::ServiceBinding binding;
};

struct Worker {
  Worker()
      : base(iwtest::BindTestServiceHandler(handler)),
        with_stream(base),
        binding(with_stream.binding),
        dispatcher(binding, "native-fuzz") {
    google::protobuf::SetLogHandler(nullptr);
    // A call with a tiny deadline and replace-after grace overruns it: a real
    // worker would end, the fuzzer goes on.
    dispatcher.SetOverrunHandler([](const std::string&) {});
  }
  iw::fuzz::SafeTestHandler handler;
  iw::codegen::ServiceBinding base;
  WithStream with_stream;
  iw::codegen::ServiceBinding binding;
  iw::internal::Dispatcher dispatcher;
};

using Bytes = iw::fuzz::ByteReader;

// What the fuzzer sent, to check the replies against.
struct Sent {
  absl::flat_hash_map<uint64_t, int> calls;     // id → how many call (or stream open) frames
  absl::flat_hash_set<uint64_t> streams;        // ids opened as streams
  absl::flat_hash_map<uint64_t, int> requests;  // stream id → request messages sent
  absl::flat_hash_set<uint64_t> half_closed;    // stream ids
  bool only_valid = true;                       // no frame that breaks the protocol
  // False once raw bytes went out: a call may hide in them (or the calls
  // after them in a body that is longer than it says).
  bool ids_known = true;
};

void AppendRaw(absl::string_view bytes, FrameBuffer* out) {
  if (!bytes.empty()) std::memcpy(out->Extend(bytes.size()), bytes.data(), bytes.size());
}

// A header of `kind` announcing `body_size` bytes.
void AppendHeader(uint8_t kind, uint32_t body_size, uint8_t reserved, FrameBuffer* out) {
  char* header = out->Extend(8);
  std::memcpy(header, &body_size, 4);
  header[4] = static_cast<char>(kind);
  header[5] = static_cast<char>(reserved);
  header[6] = 0;
  header[7] = 0;
}

// The structured input: operations until the input is used up.
void Structured(Bytes& in, const iw::codegen::ServiceInfo& service, int stream_method,
                bool hello_first, FrameBuffer* out, Sent* sent) {
  std::vector<absl::string_view> paths;
  for (int i = 0; i < service.method_count; ++i) paths.emplace_back(service.methods[i].path);
  if (hello_first) {
    // Sometimes a method the worker does not serve, at the end of the table.
    if (in.Byte() & 1) paths.emplace_back("/iwtest.TestService/Teleport");
    const uint8_t limits = in.Byte();
    iw::internal::AppendHello((limits & 1) ? 64 : (64 << 20), (limits & 2) ? 48 : (64 << 20), paths,
                              out);
  } else {
    sent->only_valid = false;
  }
  iw::Metadata metadata;
  while (!in.empty()) {
    const uint8_t op = in.Byte();
    switch (op % 16) {
      default: {  // a call (most operations)
        iw::internal::CallFields call;
        call.id = 1 + in.Byte() % 32;
        const uint8_t method = in.Byte();
        call.method = method % (paths.size() + ((method & 0x80) ? 2 : 0));
        if (call.method >= paths.size()) sent->only_valid = false;
        const uint8_t timeout = in.Byte();
        call.timeout_us = (timeout & 0x80) ? uint64_t{1} << (timeout & 0x3f) : 0;
        call.replace_after_ms_plus_one = (timeout & 0x40) ? in.Byte() : 0;
        const std::string request_id = in.Take(in.Byte() % 20);
        call.request_id = request_id;
        metadata.clear();
        const uint8_t entries = in.Byte() % 4;
        for (uint8_t i = 0; i < entries; ++i) {
          std::string key = in.Take(in.Byte() % 8);
          metadata.emplace(std::move(key), in.Take(in.Byte() % 8));
        }
        call.metadata = &metadata;
        // A call frame of a streaming method (the appended echo, or one of
        // TestService's own) is a violation.
        if (call.method < static_cast<uint32_t>(service.method_count) &&
            iw::codegen::IsStreaming(service.methods[call.method])) {
          sent->only_valid = false;
        }
        const std::string request = in.Take(in.Byte());
        const size_t start = out->size();
        std::memcpy(iw::internal::AppendCall(call, request.size(), out), request.data(),
                    request.size());
        if (++sent->calls[call.id] > 1) sent->only_valid = false;
        // Built by the codec, yet the metadata may break the rules (an empty
        // key): what the worker makes of it.
        if (!iw::internal::ParseCall(
                 absl::string_view(out->data() + start + 8, out->size() - start - 8))
                 .ok()) {
          sent->only_valid = false;
        }
        break;
      }
      case 1:
      case 2:
        iw::internal::AppendCancel(1 + in.Byte() % 32, out);
        break;
      case 3:
        iw::internal::AppendHello(1 << 20, 1 << 20, paths, out);
        sent->only_valid = false;
        break;
      case 4: {
        iw::internal::ReplyFields reply;
        reply.id = 1 + in.Byte() % 32;
        iw::internal::AppendReply(reply, 0, out);
        sent->only_valid = false;
        break;
      }
      case 5:
        iw::internal::AppendGoAway(in.Take(in.Byte() % 16), out);
        sent->only_valid = false;
        break;
      case 6: {
        // A frame of any kind with a body from the input (mostly malformed).
        const uint8_t kind = in.Byte();
        const std::string body = in.Take(in.Byte());
        AppendHeader(kind, static_cast<uint32_t>(body.size()), 0, out);
        AppendRaw(body, out);
        sent->only_valid = false;
        sent->ids_known = false;
        break;
      }
      case 8: {
        // A stream open: mostly of the streaming method, now and then of a
        // unary one (a violation) or one the worker does not serve.
        iw::internal::CallFields open;
        open.id = 1 + in.Byte() % 32;
        const uint8_t method = in.Byte();
        open.method = (method & 0x80) ? method % paths.size() : stream_method;
        const uint8_t timeout = in.Byte();
        open.timeout_us = (timeout & 0x80) ? uint64_t{1} << (timeout & 0x3f) : 0;
        iw::internal::AppendStreamOpen(open, out);
        const bool known = open.method < static_cast<uint32_t>(service.method_count);
        if (known && !iw::codegen::IsStreaming(service.methods[open.method])) {
          sent->only_valid = false;  // a stream of a unary method
        }
        if (++sent->calls[open.id] > 1) sent->only_valid = false;
        if (known && iw::codegen::IsStreaming(service.methods[open.method])) {
          sent->streams.insert(open.id);
        }
        break;
      }
      case 9: {
        // A request message (an EchoRequest, or any bytes).
        const uint64_t id = 1 + in.Byte() % 32;
        const std::string payload = in.Take(in.Byte() % 32);
        std::memcpy(
            iw::internal::AppendStreamMessage(FrameKind::kRequestMessage, id, payload.size(), out),
            payload.data(), payload.size());
        // Beyond the window (the handler may not have read yet), after a
        // half-close, or to a unary call: maybe a violation.
        if (++sent->requests[id] > iw::kStreamWindow || sent->half_closed.contains(id) ||
            (sent->calls.contains(id) && !sent->streams.contains(id))) {
          sent->only_valid = false;
        }
        break;
      }
      case 10: {
        const uint64_t id = 1 + in.Byte() % 32;
        iw::internal::AppendHalfClose(id, out);
        if (sent->calls.contains(id) && !sent->streams.contains(id)) sent->only_valid = false;
        if (sent->streams.contains(id)) sent->half_closed.insert(id);
        break;
      }
      case 11: {
        const uint64_t id = 1 + in.Byte() % 32;
        const uint32_t n = in.Byte() % (iw::kStreamWindow + 2);
        iw::internal::AppendCredit(FrameKind::kResponseCredit, id, n, out);
        if (n == 0 || n > static_cast<uint32_t>(iw::kStreamWindow) ||
            (sent->calls.contains(id) && !sent->streams.contains(id))) {
          sent->only_valid = false;
        }
        break;
      }
      case 7: {
        // A header that announces more than any limit, or has reserved bits.
        const uint8_t bits = in.Byte();
        AppendHeader(static_cast<uint8_t>(FrameKind::kCall),
                     (bits & 1) ? 0xffffff00u : uint32_t{bits}, (bits & 2) ? bits : 0, out);
        sent->only_valid = false;
        sent->ids_known = false;
        break;
      }
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static Worker* worker = new Worker;
  if (size == 0) return 0;
  g_input = data;
  g_input_size = size;
  // Small enough for the socket buffer: writes never wait for the worker,
  // which stops reading at a violation.
  if (size > 64 << 10) size = 64 << 10;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  int fds[2];
  Check(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0, "socketpair");
  std::unique_ptr<iw::internal::NativeCarrier> carrier =
      iw::internal::StartNativeCarrier(&worker->dispatcher, iw::internal::UniqueFd(fds[0]));
  iw::testing::NativePeer peer{iw::internal::UniqueFd(fds[1])};

  const iw::codegen::ServiceInfo& service = *worker->binding.service;
  Bytes in{data + 1, size - 1};
  FrameBuffer out;
  Sent sent;
  const bool raw = (data[0] & 0x80) != 0;
  if (raw) {
    sent.only_valid = false;
    std::vector<absl::string_view> paths;
    for (int i = 0; i < service.method_count; ++i) paths.emplace_back(service.methods[i].path);
    iw::internal::AppendHello(64 << 20, (data[0] & 0x40) ? 16 : (64 << 20), paths, &out);
    AppendRaw(in.Take(in.size), &out);
  } else {
    Structured(in, service, worker->with_stream.stream_method,
               /*hello_first=*/(data[0] & 0x40) == 0, &out, &sent);
  }
  Check(peer.Send(&out, deadline), "the worker end takes the input");
  peer.CloseWrites();

  absl::flat_hash_map<uint64_t, int> replies;
  int goaways = 0;
  std::string reason;
  absl::Status ended;
  while (true) {
    absl::StatusOr<iw::internal::InFrame> frame = peer.Next(deadline);
    if (!frame.ok()) {
      ended = frame.status();
      break;
    }
    if (frame->kind == FrameKind::kGoAway) {
      absl::StatusOr<std::string> parsed = iw::internal::ParseGoAway(frame->body());
      Check(parsed.ok(), "a GoAway parses");
      reason = *parsed;
      ++goaways;
      continue;
    }
    if (frame->kind == FrameKind::kResponseMessage || frame->kind == FrameKind::kRequestCredit) {
      uint64_t id = 0;
      if (frame->kind == FrameKind::kResponseMessage) {
        absl::StatusOr<iw::internal::StreamMessageView> message =
            iw::internal::ParseStreamMessage(frame->kind, frame->body());
        Check(message.ok(), "a response message parses");
        id = message->id;
      } else {
        absl::StatusOr<iw::internal::CreditView> credit =
            iw::internal::ParseCredit(frame->kind, frame->body());
        Check(credit.ok(), "a request credit parses");
        id = credit->id;
      }
      if (!raw && sent.ids_known) {
        Check(sent.streams.contains(id), "a stream frame names a stream that was opened");
        Check(replies[id] == 0 || sent.calls[id] > 1, "no stream frame after the stream's end");
      }
      continue;
    }
    Check(frame->kind == FrameKind::kReply,
          "the worker sends only replies, stream frames and GoAways");
    absl::StatusOr<iw::internal::ReplyView> reply = iw::internal::ParseReply(frame->body());
    Check(reply.ok(), "a reply parses");
    Check(reply->code <= 16, "a reply's code is canonical");
    if (!raw && sent.ids_known) {
      auto it = sent.calls.find(reply->id);
      Check(it != sent.calls.end(), "a reply answers an id that was sent");
      Check(++replies[reply->id] <= it->second, "an id is not answered more often than sent");
    }
  }
  Check(!absl::IsDeadlineExceeded(ended), "the worker end closes the connection in time");
  Check(absl::IsUnavailable(ended), "the connection ends with EOF");
  Check(goaways <= 1, "at most one GoAway");
  Check(carrier->WaitDone(deadline), "the carrier ends in time");
  const absl::Status status = carrier->status();
  if (goaways == 0) {
    // EOF in the middle of a frame is a broken connection, not a violation.
    Check(status.ok() || (absl::IsUnavailable(status) &&
                          absl::StrContains(status.message(), "in the middle of a")),
          "without a GoAway the carrier ends OK, or with a frame cut short");
  } else {
    Check(absl::IsInvalidArgument(status) && status.message() == reason,
          "the carrier ends with the GoAway's reason");
  }
  if (sent.only_valid) {
    Check(goaways == 0, "valid frames get no GoAway");
    for (const auto& [id, count] : sent.calls) {
      Check(replies[id] == count, "every valid call gets one reply");
    }
  }
  return 0;
}
