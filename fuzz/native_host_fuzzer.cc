// Fuzz target: the host end of the native carrier (host/native_connection.h)
// answered by a hostile worker. A real NativeConnection is opened on one end
// of a socketpair; the fuzzer plays the worker on the other: it reads the
// hello and the calls the host makes (asynchronous ones, and a blocking one
// on a thread of its own when bit 0x08 of the first byte is set), then
// answers with frames built from the input and half-closes its end.
//
// Input: the first byte sets the number of asynchronous calls (1-8, bits
// 0x07), the blocking call (0x08), a stream (0x10, a HostStream opened after
// the calls) and a small reply limit (0x40); the rest is a list of
// operations: a well-formed reply to one of the calls (any status code,
// metadata, payload), a reply to an id never sent, a GoAway, a frame only
// the host sends, a frame of any kind with any body, an abandoned call
// (NativeConnection::Abandon), a response message, a request credit or the
// end of the stream (or of an id never sent).
//
// Invariants checked (a violation aborts): no crash or sanitizer report;
// every call completes exactly once, in time; a call answered before
// anything broke the protocol completes with that answer (code, payload);
// a call never answered fails with UNAVAILABLE; the violation callback runs
// exactly once if the fuzzer sent a frame that breaks the protocol (a
// response message beyond the stream's credit among them), and never
// otherwise; the stream ends with the end the fuzzer sent before anything
// broke the protocol, else UNAVAILABLE.
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "fuzz/byte_reader.h"
#include "fuzz/fuzz_target.h"
#include "fuzz/safe_handlers.h"
#include "google/protobuf/stubs/logging.h"
#include "runtime/host/host_stream.h"
#include "runtime/host/native_connection.h"
#include "runtime/stream.h"
#include "tests/e2e/native_peer.h"
#include "tests/workers/test_service.iw.h"

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
using iw::internal::NativeConnection;

using Bytes = iw::fuzz::ByteReader;

// How one call ended, as its completion saw it.
struct Outcome {
  int completions = 0;
  absl::Status status;
  std::string payload;
};

class Outcomes {
 public:
  explicit Outcomes(int n) : outcomes_(n) {}
  void Complete(int i, const NativeConnection::Reply& reply) {
    absl::MutexLock lock(&mu_);
    Outcome& outcome = outcomes_[i];
    if (++outcome.completions == 1) {
      outcome.status = reply.status;
      outcome.payload = std::string(reply.payload);
    }
    ++completed_;
  }
  bool WaitAll(absl::Time deadline) {
    absl::MutexLock lock(&mu_);
    auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return completed_ >= static_cast<int>(outcomes_.size());
    };
    return mu_.AwaitWithDeadline(absl::Condition(&done), deadline);
  }
  Outcome Get(int i) {
    absl::MutexLock lock(&mu_);
    return outcomes_[i];
  }

 private:
  absl::Mutex mu_;
  std::vector<Outcome> outcomes_ ABSL_GUARDED_BY(mu_);
  int completed_ ABSL_GUARDED_BY(mu_) = 0;
};

// The first answer the fuzzer gave a call before anything broke the
// protocol.
struct Answer {
  uint32_t code = 0;
  std::string payload;
};

void AppendRaw(absl::string_view bytes, FrameBuffer* out) {
  if (!bytes.empty()) std::memcpy(out->Extend(bytes.size()), bytes.data(), bytes.size());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const bool quiet = [] {
    google::protobuf::SetLogHandler(nullptr);
    return true;
  }();
  (void)quiet;
  if (size == 0) return 0;
  g_input = data;
  g_input_size = size;
  // Small enough for the socket buffer: the fuzzer's writes never wait for
  // the host, which stops reading at a violation.
  if (size > 32 << 10) size = 32 << 10;
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  const iw::codegen::ServiceInfo& service = iwtest::iw_internal::kTestServiceService;
  const int async_calls = 1 + (data[0] & 7);
  const bool blocking = (data[0] & 0x08) != 0;
  const bool with_stream = (data[0] & 0x10) != 0;
  const int calls = async_calls + (blocking ? 1 : 0);
  const size_t max_reply = (data[0] & 0x40) ? 64 : (1 << 20);
  Bytes in{data + 1, size - 1};

  int fds[2];
  Check(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0, "socketpair");
  iw::testing::NativePeer peer{iw::internal::UniqueFd(fds[1])};
  std::atomic<int> violations{0};
  std::shared_ptr<NativeConnection> connection = NativeConnection::Open(
      iw::internal::UniqueFd(fds[0]), service, 1 << 20, max_reply,
      [&violations](const absl::Status& why) {
        Check(absl::IsInvalidArgument(why), "a violation is INVALID_ARGUMENT");
        violations.fetch_add(1);
      });

  // The hello: valid, listing the service's methods.
  {
    absl::StatusOr<iw::internal::InFrame> hello = peer.Next(deadline);
    Check(hello.ok() && hello->kind == FrameKind::kHello, "the host sends a hello first");
    absl::StatusOr<iw::internal::HelloView> view = iw::internal::ParseHello(hello->body());
    Check(view.ok(), "the hello parses");
    Check(view->version == iw::internal::kNativeVersion, "the hello's version");
    Check(view->max_reply_bytes == max_reply, "the hello's reply limit");
    Check(view->method_paths.size() == static_cast<size_t>(service.method_count),
          "the hello lists every method");
    for (int i = 0; i < service.method_count; ++i) {
      Check(view->method_paths[i] == service.methods[i].path, "the hello's method paths");
    }
  }

  // The calls: outcome i < async_calls is async call i; the last one the
  // blocking call.
  Outcomes outcomes(calls);
  iw::internal::CallTiming timing;
  timing.deadline = absl::Now() + absl::Seconds(30);
  absl::flat_hash_map<uint64_t, int> outcome_of;  // call id → outcome index
  std::vector<uint64_t> async_ids;
  for (int i = 0; i < async_calls; ++i) {
    const uint64_t id = connection->Start(
        i % service.method_count, std::string(static_cast<size_t>(i) * 3, 'q'), timing,
        [&outcomes, i](NativeConnection::Reply reply) { outcomes.Complete(i, reply); });
    Check(id != 0, "the connection takes calls");
    outcome_of[id] = i;
    async_ids.push_back(id);
  }
  std::optional<std::thread> blocking_caller;
  if (blocking) {
    blocking_caller.emplace([&connection, &outcomes, &timing, calls] {
      iwtest::EchoRequest request;
      request.set_text("blocking");
      outcomes.Complete(calls - 1, connection->Call(0, request, timing));
    });
  }
  std::shared_ptr<iw::internal::HostStream> stream;
  if (with_stream) {
    stream = std::make_shared<iw::internal::HostStream>(service, 0, timing, 1 << 20, max_reply);
    stream->Start(connection->OpenStream(0, timing, stream));
  }
  // The peer reads every call frame (and the stream's open).
  std::vector<uint64_t> ids;
  uint64_t stream_id = 0;
  while (ids.size() < static_cast<size_t>(calls) || (with_stream && stream_id == 0)) {
    absl::StatusOr<iw::internal::InFrame> frame = peer.Next(deadline);
    Check(frame.ok(), "every call frame arrives");
    if (frame->kind == FrameKind::kStreamOpen) {
      absl::StatusOr<iw::internal::CallView> open = iw::internal::ParseStreamOpen(frame->body());
      Check(with_stream && stream_id == 0 && open.ok(), "one stream open, which parses");
      stream_id = open->id;
      continue;
    }
    Check(frame->kind == FrameKind::kCall, "only calls follow the hello");
    absl::StatusOr<iw::internal::CallView> call = iw::internal::ParseCall(frame->body());
    Check(call.ok(), "a call frame parses");
    Check(call->method < static_cast<uint32_t>(service.method_count), "a call's method index");
    ids.push_back(call->id);
    if (outcome_of.find(call->id) == outcome_of.end()) {
      Check(blocking, "an id the host did not return is the blocking call's");
      outcome_of[call->id] = calls - 1;
    }
  }
  Check(outcome_of.size() == static_cast<size_t>(calls), "every call has its own id");
  Check(!outcome_of.contains(stream_id), "the stream has its own id");
  const uint64_t largest_id = static_cast<uint64_t>(calls) + (with_stream ? 1 : 0);
  // The stream, as the host sees it so far (until something breaks).
  bool stream_open = with_stream;
  int stream_messages = 0;
  std::optional<uint32_t> stream_end;

  // The answers.
  FrameBuffer out;
  bool broken = false;  // a frame that breaks the protocol was sent
  absl::flat_hash_map<uint64_t, Answer> answers;
  absl::flat_hash_set<uint64_t> abandoned;
  iw::Metadata metadata;
  // A reply the host would accept: remember it as the call's answer unless
  // an earlier frame broke the protocol or answered the call already.
  auto note_reply = [&](const iw::internal::ReplyView& reply) {
    if (reply.id > largest_id) {
      broken = true;
    } else if (with_stream && reply.id == stream_id) {
      if (broken || !stream_open) return;  // an end after the end: ignored
      if (!reply.payload.empty()) {
        broken = true;
        return;
      }
      stream_open = false;
      stream_end = reply.code;
    } else if (!broken && answers.find(reply.id) == answers.end()) {
      answers[reply.id] = Answer{reply.code, std::string(reply.payload)};
    }
  };
  while (!in.empty()) {
    const uint8_t op = in.Byte();
    switch (op % 13) {
      default: {  // a well-formed reply to one of the calls
        iw::internal::ReplyFields reply;
        reply.id = ids[in.Byte() % ids.size()];
        reply.code = in.Byte() % 17;
        const std::string message = reply.code != 0 ? in.Take(in.Byte() % 16) : std::string();
        reply.message = message;
        metadata.clear();
        const uint8_t entries = in.Byte() % 3;
        for (uint8_t i = 0; i < entries; ++i) {
          std::string key = in.Take(in.Byte() % 8);
          metadata.emplace(std::move(key), in.Take(in.Byte() % 8));
        }
        reply.metadata = &metadata;
        const std::string payload = reply.code == 0 ? in.Take(in.Byte()) : std::string();
        const size_t start = out.size();
        std::memcpy(iw::internal::AppendReply(reply, payload.size(), &out), payload.data(),
                    payload.size());
        // Built by the codec, yet the metadata may break the rules (an empty
        // key): what the host makes of it.
        absl::StatusOr<iw::internal::ReplyView> view = iw::internal::ParseReply(
            absl::string_view(out.data() + start + 8, out.size() - start - 8));
        if (view.ok()) {
          note_reply(*view);
        } else {
          broken = true;
        }
        break;
      }
      case 4: {  // a reply to an id never sent
        iw::internal::ReplyFields reply;
        reply.id = largest_id + 1 + in.Byte();
        iw::internal::AppendReply(reply, 0, &out);
        broken = true;
        break;
      }
      case 5:
        iw::internal::AppendGoAway(in.Take(in.Byte() % 16), &out);
        broken = true;
        break;
      case 6:  // a frame only the host sends
        switch (in.Byte() % 4) {
          case 3:
            iw::internal::AppendHalfClose(ids[0], &out);
            break;
          case 0:
            iw::internal::AppendCancel(ids[0], &out);
            break;
          case 1:
            iw::internal::AppendHello(1, 1, {}, &out);
            break;
          default: {
            iw::internal::CallFields call;
            call.id = 1;
            iw::internal::AppendCall(call, 0, &out);
            break;
          }
        }
        broken = true;
        break;
      case 7: {  // a frame of any kind with any body
        const uint8_t kind = in.Byte();
        const std::string body = in.Take(in.Byte());
        if ((kind == static_cast<uint8_t>(FrameKind::kResponseMessage) &&
             iw::internal::ParseStreamMessage(FrameKind::kResponseMessage, body).ok()) ||
            (kind == static_cast<uint8_t>(FrameKind::kRequestCredit) &&
             iw::internal::ParseCredit(FrameKind::kRequestCredit, body).ok())) {
          break;  // a valid stream frame: the operations below send those
        }
        const uint32_t body_size = static_cast<uint32_t>(body.size());
        char* header = out.Extend(8);
        std::memcpy(header, &body_size, 4);
        header[4] = static_cast<char>(kind);
        header[5] = header[6] = header[7] = 0;
        AppendRaw(body, &out);
        // What the host makes of it: the same checks, in the same order.
        absl::StatusOr<iw::internal::ReplyView> reply = iw::internal::ParseReply(body);
        if (kind == static_cast<uint8_t>(FrameKind::kReply) && reply.ok()) {
          note_reply(*reply);
        } else {
          broken = true;
        }
        break;
      }
      case 10: {  // a response message: of the stream, or of an id never sent
        const uint8_t which = in.Byte();
        const std::string payload = in.Take(in.Byte() % 32);
        const uint64_t id = with_stream && (which & 0x80) == 0 ? stream_id : largest_id + 1 + which;
        std::memcpy(iw::internal::AppendStreamMessage(FrameKind::kResponseMessage, id,
                                                      payload.size(), &out),
                    payload.data(), payload.size());
        if (id != stream_id) {
          broken = true;
        } else if (!broken && stream_open && ++stream_messages > iw::kStreamWindow) {
          broken = true;  // beyond the credit: nobody reads the stream
        }
        break;
      }
      case 11: {  // a request credit (0 or more than the window: malformed)
        const uint32_t n = in.Byte() % (iw::kStreamWindow + 2);
        const uint64_t id = with_stream ? stream_id : largest_id + 1;
        iw::internal::AppendCredit(FrameKind::kRequestCredit, id, n, &out);
        if (!with_stream || n == 0 || n > static_cast<uint32_t>(iw::kStreamWindow)) broken = true;
        break;
      }
      case 12: {  // the end of the stream (now and then with a message)
        iw::internal::ReplyFields reply;
        reply.id = with_stream ? stream_id : largest_id + 1;
        reply.code = in.Byte() % 17;
        const uint8_t extra = in.Byte();
        const std::string message = reply.code != 0 ? in.Take(extra % 8) : std::string();
        reply.message = message;
        const std::string payload = reply.code == 0 && (extra & 0x80) ? "p" : "";
        std::memcpy(iw::internal::AppendReply(reply, payload.size(), &out), payload.data(),
                    payload.size());
        iw::internal::ReplyView view;
        view.id = reply.id;
        view.code = reply.code;
        view.payload = payload;
        note_reply(view);
        break;
      }
      case 8: {  // the host gives up on an asynchronous call (on the wire so far)
        Check(peer.Send(&out, deadline), "the host takes the fuzzer's frames");
        out.clear();
        const uint64_t id = async_ids[in.Byte() % async_ids.size()];
        abandoned.insert(id);
        connection->Abandon(id, absl::CancelledError("abandoned by the fuzzer"));
        break;
      }
    }
  }
  Check(peer.Send(&out, deadline), "the host takes the fuzzer's frames");
  peer.CloseWrites();

  Check(outcomes.WaitAll(deadline), "every call completes in time");
  if (blocking_caller) blocking_caller->join();
  // The host reads up to the fuzzer's EOF (frames after the last call's
  // answer included), then stops.
  connection->Close(absl::Seconds(20));
  for (const auto& [id, index] : outcome_of) {
    const Outcome outcome = outcomes.Get(index);
    Check(outcome.completions == 1, "a call completes exactly once");
    if (abandoned.contains(id)) continue;  // its reply may have come first
    auto answer = answers.find(id);
    if (answer == answers.end()) {
      Check(absl::IsUnavailable(outcome.status), "a call never answered fails with UNAVAILABLE");
      continue;
    }
    if (static_cast<uint32_t>(outcome.status.code()) != answer->second.code) {
      std::fprintf(stderr, "call %llu: answered with code %u, completed with %s\n",
                   static_cast<unsigned long long>(id), answer->second.code,
                   outcome.status.ToString().c_str());
    }
    Check(static_cast<uint32_t>(outcome.status.code()) == answer->second.code,
          "a call completes with its answer's code");
    if (outcome.status.ok()) {
      Check(outcome.payload == answer->second.payload, "a call completes with its answer");
    }
  }
  if (violations.load() != (broken ? 1 : 0)) {
    std::fprintf(stderr, "violation callbacks: %d; a frame breaking the protocol sent: %d\n",
                 violations.load(), broken ? 1 : 0);
  }
  Check(violations.load() == (broken ? 1 : 0),
        "the violation callback runs once if the protocol was broken, else never");
  if (stream != nullptr) {
    const absl::Status status = stream->Finish();
    if (stream_end.has_value()) {
      Check(static_cast<uint32_t>(status.code()) == *stream_end,
            "the stream ends with the end the fuzzer sent");
    } else {
      Check(absl::IsUnavailable(status), "a stream never ended fails with UNAVAILABLE");
    }
    stream.reset();
  }
  connection.reset();
  for (const auto& [id, index] : outcome_of) {
    Check(outcomes.Get(index).completions == 1, "no call completes again after Close()");
  }
  return 0;
}
