// Streams (stream.h) on the native carrier, both ends in this process over a
// real socketpair: the worker end (StartNativeCarrier with a real
// Dispatcher) serving a hand-written streaming service, and the host end
// (NativeConnection + HostStream, as GrpcEndpoint::OpenStream makes them);
// or one end played by a NativePeer with raw frames, to break the protocol.
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "catch2/catch.hpp"
#include "google/protobuf/wrappers.pb.h"
#include "runtime/codegen_support/handler_adapter.h"
#include "runtime/codegen_support/service_info.h"
#include "runtime/host/host_stream.h"
#include "runtime/host/native_connection.h"
#include "runtime/stream.h"
#include "runtime/worker/dispatcher.h"
#include "runtime/worker/native_carrier.h"
#include "tests/e2e/native_peer.h"
#include "tests/testing/process_hygiene.h"
#include "tests/testing/status_matchers.h"

namespace {

using google::protobuf::Int64Value;
using google::protobuf::StringValue;
using iw::internal::CallTiming;
using iw::internal::FrameBuffer;
using iw::internal::FrameKind;
using iw::internal::HostStream;
using iw::internal::InFrame;
using iw::internal::NativeConnection;
using iw::testing::HelloFrame;
using iw::testing::IsOk;
using iw::testing::NativePeer;
using iw::testing::StatusIs;

// Bounds the failure case only.
absl::Duration LongWait() { return absl::Seconds(20) * iw::testing::kSanitizerSlowdown; }
absl::Time Deadline() { return absl::Now() + LongWait(); }

// The largest message either end takes, in bytes.
constexpr size_t kLimit = 4096;

// ---------------------------------------------------------------------------
// The service: one method of each kind, and handlers that tell the test what
// they saw.
// ---------------------------------------------------------------------------

enum Method : int {
  kCount = 0,  // server streaming: Int64Value n → 1..n; n < 0: -n, then an error
  kSum = 1,    // client streaming: the sum of the Int64Values
  kEcho = 2,   // bidi: every StringValue back, until the host closes its writes
  kFlood = 3,  // server streaming: writes until Write() fails; Int64Value: size
  kStall = 4,  // bidi: reads nothing, waits until cancelled or the deadline
  kUnary = 5,  // unary: Int64Value n → n + 1
  kMethods = 6,
};

const iw::codegen::MethodInfo kMethodInfos[kMethods] = {
    {"Count", "/iwtest.StreamService/Count", 0, 0, -1, 0, 0, false, false, true},
    {"Sum", "/iwtest.StreamService/Sum", 0, 0, -1, 0, 0, false, true, false},
    {"Echo", "/iwtest.StreamService/Echo", 0, 0, -1, 0, 0, false, true, true},
    {"Flood", "/iwtest.StreamService/Flood", 0, 0, -1, 0, 0, false, false, true},
    {"Stall", "/iwtest.StreamService/Stall", 0, 0, -1, 0, 0, false, true, true},
    {"Unary", "/iwtest.StreamService/Unary"},
};

iw::codegen::ServiceInfo MakeServiceInfo() {
  iw::codegen::ServiceInfo info{};
  info.full_name = "iwtest.StreamService";
  info.methods = kMethodInfos;
  info.method_count = kMethods;
  info.max_request_bytes = kLimit;
  info.max_response_bytes = kLimit;
  return info;
}
const iw::codegen::ServiceInfo kService = MakeServiceInfo();

// What the handlers saw (reset by each test's Fixture).
struct Seen {
  absl::Mutex mu;
  int writes = 0;             // Flood: successful writes
  bool write_failed = false;  // Flood: a Write() returned false
  absl::Time failed_at;       // ... when
  bool cancelled = false;     // Flood, Stall: IsCancelled() at the end
  int stalls_started = 0;
  int handlers_done = 0;
};
Seen& seen() {
  static Seen* s = new Seen;
  return *s;
}

absl::Status Count(void*, iw::CallContext&, const google::protobuf::MessageLite* request,
                   iw::internal::StreamIo& io, google::protobuf::MessageLite*) {
  const int64_t n = static_cast<const Int64Value*>(request)->value();
  iw::StreamWriter<Int64Value> writer(&io);
  for (int64_t i = 1; i <= (n < 0 ? -n : n); ++i) {
    Int64Value value;
    value.set_value(i);
    if (!writer.Write(value)) return absl::AbortedError("write failed");
  }
  if (n < 0) return absl::FailedPreconditionError(absl::StrCat("failed after ", -n, " messages"));
  return absl::OkStatus();
}

absl::Status Sum(void*, iw::CallContext&, const google::protobuf::MessageLite*,
                 iw::internal::StreamIo& io, google::protobuf::MessageLite* response) {
  iw::StreamReader<Int64Value> reader(&io);
  int64_t sum = 0;
  Int64Value value;
  while (reader.Read(&value)) sum += value.value();
  static_cast<Int64Value*>(response)->set_value(sum);
  return absl::OkStatus();
}

absl::Status Echo(void*, iw::CallContext&, const google::protobuf::MessageLite*,
                  iw::internal::StreamIo& io, google::protobuf::MessageLite*) {
  iw::StreamReader<StringValue> reader(&io);
  iw::StreamWriter<StringValue> writer(&io);
  StringValue line;
  bool written = true;
  while (written && reader.Read(&line)) written = writer.Write(line);
  absl::MutexLock lock(&seen().mu);
  ++seen().handlers_done;
  return written ? absl::OkStatus() : absl::AbortedError("write failed");
}

absl::Status Flood(void*, iw::CallContext& context, const google::protobuf::MessageLite* request,
                   iw::internal::StreamIo& io, google::protobuf::MessageLite*) {
  const int64_t size = static_cast<const Int64Value*>(request)->value();
  iw::StreamWriter<StringValue> writer(&io);
  StringValue message;
  message.set_value(std::string(static_cast<size_t>(size), 'f'));
  while (writer.Write(message)) {
    absl::MutexLock lock(&seen().mu);
    ++seen().writes;
    // The second message is over the limit when asked for.
    if (size > 0 && seen().writes == 1) message.set_value(std::string(kLimit * 2, 'F'));
  }
  absl::MutexLock lock(&seen().mu);
  seen().write_failed = true;
  seen().failed_at = absl::Now();
  seen().cancelled = context.IsCancelled();
  ++seen().handlers_done;
  return absl::OkStatus();
}

absl::Status Stall(void*, iw::CallContext& context, const google::protobuf::MessageLite*,
                   iw::internal::StreamIo&, google::protobuf::MessageLite*) {
  {
    absl::MutexLock lock(&seen().mu);
    ++seen().stalls_started;
  }
  while (!context.IsCancelled() && absl::Now() < context.deadline()) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  absl::MutexLock lock(&seen().mu);
  seen().cancelled = context.IsCancelled();
  ++seen().handlers_done;
  return absl::OkStatus();
}

absl::Status Unary(void*, iw::CallContext&, const google::protobuf::MessageLite& request,
                   google::protobuf::MessageLite* response) {
  static_cast<Int64Value*>(response)->set_value(static_cast<const Int64Value&>(request).value() +
                                                1);
  return absl::OkStatus();
}

const iw::codegen::MethodHandler kHandlers[kMethods] = {
    {&Int64Value::default_instance(), &Int64Value::default_instance(), nullptr, &Count},
    {&Int64Value::default_instance(), &Int64Value::default_instance(), nullptr, &Sum},
    {&StringValue::default_instance(), &StringValue::default_instance(), nullptr, &Echo},
    {&Int64Value::default_instance(), &StringValue::default_instance(), nullptr, &Flood},
    {&StringValue::default_instance(), &StringValue::default_instance(), nullptr, &Stall},
    {&Int64Value::default_instance(), &Int64Value::default_instance(), &Unary},
};

iw::codegen::ServiceBinding Binding() { return {&kService, kHandlers, nullptr}; }

// Waits (bounded) until `done` holds of what the handlers saw.
template <typename Done>
bool AwaitSeen(Done done) {
  absl::MutexLock lock(&seen().mu);
  auto ready = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(seen().mu) { return done(seen()); };
  return seen().mu.AwaitWithTimeout(absl::Condition(&ready), LongWait());
}

// ---------------------------------------------------------------------------
// The two ends.
// ---------------------------------------------------------------------------

std::pair<iw::internal::UniqueFd, iw::internal::UniqueFd> SocketPair() {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  return {iw::internal::UniqueFd(fds[0]), iw::internal::UniqueFd(fds[1])};
}

CallTiming Timing(absl::Duration timeout) {
  CallTiming timing;
  timing.deadline =
      timeout == absl::InfiniteDuration() ? absl::InfiniteFuture() : absl::Now() + timeout;
  timing.timeout.timeout = timeout;
  timing.timeout.source = "the test";
  return timing;
}

// Opens a stream as GrpcEndpoint::OpenStream does on the native carrier.
std::shared_ptr<HostStream> Open(NativeConnection& connection, int method,
                                 absl::Duration timeout = absl::InfiniteDuration()) {
  const CallTiming timing = Timing(timeout);
  auto stream = std::make_shared<HostStream>(kService, method, timing, kLimit, kLimit);
  stream->Start(connection.OpenStream(method, timing, stream));
  return stream;
}

// The host end (a NativeConnection) on one end of a socketpair.
class HostEnd {
 public:
  explicit HostEnd(iw::internal::UniqueFd fd) {
    connection_ = NativeConnection::Open(std::move(fd), kService, kLimit, kLimit,
                                         [this](const absl::Status& why) {
                                           absl::MutexLock lock(&mu_);
                                           violations_.push_back(std::string(why.message()));
                                         });
  }
  ~HostEnd() { connection_->Close(LongWait()); }
  NativeConnection& connection() { return *connection_; }
  std::vector<std::string> violations() {
    absl::MutexLock lock(&mu_);
    return violations_;
  }

 private:
  absl::Mutex mu_;
  std::vector<std::string> violations_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<NativeConnection> connection_;
};

// Both ends, for real.
class Fixture {
 public:
  Fixture() : dispatcher_(Binding(), "native-stream-test", iw::WorkerConfig{}) {
    {
      absl::MutexLock lock(&seen().mu);
      seen().writes = 0;
      seen().write_failed = false;
      seen().cancelled = false;
      seen().stalls_started = 0;
      seen().handlers_done = 0;
    }
    auto [host_fd, worker_fd] = SocketPair();
    carrier_ = iw::internal::StartNativeCarrier(&dispatcher_, std::move(worker_fd));
    host_ = std::make_unique<HostEnd>(std::move(host_fd));
  }
  ~Fixture() {
    host_.reset();
    if (!carrier_->WaitDone(Deadline())) FAIL_CHECK("the worker end did not end");
  }
  NativeConnection& connection() { return host_->connection(); }
  HostEnd& host() { return *host_; }
  iw::internal::NativeCarrier& carrier() { return *carrier_; }

 private:
  iw::internal::Dispatcher dispatcher_;
  std::unique_ptr<iw::internal::NativeCarrier> carrier_;
  std::unique_ptr<HostEnd> host_;
};

Int64Value Int(int64_t v) {
  Int64Value value;
  value.set_value(v);
  return value;
}
StringValue Str(std::string v) {
  StringValue value;
  value.set_value(std::move(v));
  return value;
}

// ---------------------------------------------------------------------------
// Streams that work.
// ---------------------------------------------------------------------------

TEST_CASE("Native streams: a server stream delivers its N messages in order, then OK",
          "[e2e][native][stream]") {
  Fixture fixture;
  const int n = GENERATE(0, 1, 3 * iw::kStreamWindow + 1);
  std::shared_ptr<HostStream> stream = Open(fixture.connection(), kCount);
  REQUIRE(stream->Write(Int(n)));
  stream->CloseWrites();
  std::vector<int64_t> got;
  Int64Value value;
  while (stream->Read(&value)) got.push_back(value.value());
  CHECK_THAT(stream->Finish(), IsOk());
  std::vector<int64_t> expected;
  for (int i = 1; i <= n; ++i) expected.push_back(i);
  CHECK(got == expected);
  CHECK(stream->messages_read() == n);
}

TEST_CASE("Native streams: a client stream of many more messages than the window is summed",
          "[e2e][native][stream]") {
  Fixture fixture;
  std::shared_ptr<HostStream> stream = Open(fixture.connection(), kSum);
  int64_t expected = 0;
  for (int i = 1; i <= 5 * iw::kStreamWindow; ++i) {
    REQUIRE(stream->Write(Int(i)));
    expected += i;
  }
  stream->CloseWrites();
  Int64Value sum;
  REQUIRE(stream->Read(&sum));
  CHECK(sum.value() == expected);
  CHECK_FALSE(stream->Read(&sum));
  CHECK_THAT(stream->Finish(), IsOk());
}

TEST_CASE("Native streams: a bidi stream echoes each message; half-close ends it with OK",
          "[e2e][native][stream]") {
  Fixture fixture;
  std::shared_ptr<HostStream> stream = Open(fixture.connection(), kEcho);
  // In lockstep, then a burst of a window's worth (the worker answers as
  // the host sends).
  for (int i = 0; i < 3; ++i) {
    REQUIRE(stream->Write(Str(absl::StrCat("line ", i))));
    StringValue line;
    REQUIRE(stream->Read(&line));
    CHECK(line.value() == absl::StrCat("line ", i));
  }
  std::thread writer([&] {
    for (int i = 0; i < 4 * iw::kStreamWindow; ++i) {
      if (!stream->Write(Str(absl::StrCat("burst ", i)))) break;
    }
    stream->CloseWrites();
  });
  int read = 0;
  StringValue line;
  while (stream->Read(&line)) {
    CHECK(line.value() == absl::StrCat("burst ", read));
    ++read;
  }
  writer.join();
  CHECK(read == 4 * iw::kStreamWindow);
  CHECK_THAT(stream->Finish(), IsOk());
}

TEST_CASE("Native streams: a handler's error after its messages comes after them",
          "[e2e][native][stream]") {
  Fixture fixture;
  std::shared_ptr<HostStream> stream = Open(fixture.connection(), kCount);
  REQUIRE(stream->Write(Int(-3)));
  std::vector<int64_t> got;
  Int64Value value;
  while (stream->Read(&value)) got.push_back(value.value());
  CHECK(got == std::vector<int64_t>{1, 2, 3});
  CHECK_THAT(stream->Finish(),
             StatusIs(absl::StatusCode::kFailedPrecondition, "failed after 3 messages"));
}

TEST_CASE("Native streams: unary calls on the same connection work while a stream is open",
          "[e2e][native][stream]") {
  Fixture fixture;
  std::shared_ptr<HostStream> stream = Open(fixture.connection(), kEcho);
  REQUIRE(stream->Write(Str("first")));
  for (int i = 0; i < 3; ++i) {
    NativeConnection::Reply reply = fixture.connection().Call(kUnary, Int(i), Timing(LongWait()));
    REQUIRE_THAT(reply.status, IsOk());
    Int64Value answer;
    REQUIRE(answer.ParseFromArray(reply.payload.data(), static_cast<int>(reply.payload.size())));
    CHECK(answer.value() == i + 1);
  }
  StringValue line;
  REQUIRE(stream->Read(&line));
  CHECK(line.value() == "first");
  CHECK_THAT(stream->Finish(), IsOk());
}

// ---------------------------------------------------------------------------
// Ends that are not the handler's.
// ---------------------------------------------------------------------------

TEST_CASE("Native streams: a host that never reads holds the worker's writer at the window",
          "[e2e][native][stream]") {
  Fixture fixture;
  std::shared_ptr<HostStream> stream = Open(fixture.connection(), kFlood, absl::Milliseconds(500));
  REQUIRE(stream->Write(Int(0)));
  // The handler wrote exactly a window's worth, then blocked until the
  // deadline ended the stream.
  REQUIRE(AwaitSeen([](Seen& s) { return s.write_failed; }));
  {
    absl::MutexLock lock(&seen().mu);
    CHECK(seen().writes == iw::kStreamWindow);
  }
  CHECK_THAT(stream->Finish(), StatusIs(absl::StatusCode::kDeadlineExceeded));
}

TEST_CASE("Native streams: the host's Cancel reaches the handler: its Write fails at once",
          "[e2e][native][stream]") {
  Fixture fixture;
  std::shared_ptr<HostStream> stream = Open(fixture.connection(), kFlood);
  REQUIRE(stream->Write(Int(0)));
  REQUIRE(AwaitSeen([](Seen& s) { return s.writes == iw::kStreamWindow; }));
  const absl::Time cancelled_at = absl::Now();
  stream->Cancel();
  REQUIRE(AwaitSeen([](Seen& s) { return s.write_failed; }));
  {
    absl::MutexLock lock(&seen().mu);
    CHECK(seen().cancelled);
    CHECK(seen().failed_at - cancelled_at < absl::Seconds(2) * iw::testing::kSanitizerSlowdown);
  }
  CHECK_THAT(stream->Finish(), StatusIs(absl::StatusCode::kCancelled));
}

TEST_CASE("Native streams: the deadline ends a stream whose handler blocks in Read",
          "[e2e][native][stream]") {
  Fixture fixture;
  std::shared_ptr<HostStream> stream = Open(fixture.connection(), kEcho, absl::Milliseconds(300));
  StringValue line;
  CHECK_FALSE(stream->Read(&line));
  CHECK_THAT(stream->Finish(), StatusIs(absl::StatusCode::kDeadlineExceeded));
  // The handler's Read() returned (the deadline, or the host's cancel at
  // it), with the connection still open.
  CHECK(AwaitSeen([](Seen& s) { return s.handlers_done == 1; }));
}

TEST_CASE(
    "Native streams: a message over the size limit mid-stream ends it with "
    "RESOURCE_EXHAUSTED",
    "[e2e][native][stream]") {
  Fixture fixture;
  SECTION("a response, on the worker") {
    std::shared_ptr<HostStream> stream = Open(fixture.connection(), kFlood);
    REQUIRE(stream->Write(Int(10)));
    StringValue message;
    REQUIRE(stream->Read(&message));
    CHECK(message.value() == std::string(10, 'f'));
    CHECK_FALSE(stream->Read(&message));
    CHECK_THAT(stream->Finish(), StatusIs(absl::StatusCode::kResourceExhausted));
  }
  SECTION("a request, on the worker (a host with a larger limit)") {
    const CallTiming timing = Timing(absl::InfiniteDuration());
    auto stream = std::make_shared<HostStream>(kService, kEcho, timing, kLimit * 4, kLimit);
    stream->Start(fixture.connection().OpenStream(kEcho, timing, stream));
    REQUIRE(stream->Write(Str("small")));
    StringValue line;
    REQUIRE(stream->Read(&line));
    // Sent (the host's limit allows it), refused by the worker.
    CHECK(stream->Write(Str(std::string(kLimit * 2, 'x'))));
    CHECK_FALSE(stream->Read(&line));
    CHECK_THAT(stream->Finish(), StatusIs(absl::StatusCode::kResourceExhausted));
  }
  SECTION("a request, on the host") {
    std::shared_ptr<HostStream> stream = Open(fixture.connection(), kEcho);
    REQUIRE(stream->Write(Str("small")));
    CHECK_FALSE(stream->Write(Str(std::string(kLimit * 2, 'x'))));
    CHECK_THAT(stream->Finish(), StatusIs(absl::StatusCode::kResourceExhausted));
  }
}

// ---------------------------------------------------------------------------
// A worker that breaks the protocol, or goes away (the worker played by a
// NativePeer).
// ---------------------------------------------------------------------------

// The host end with a raw peer as its worker: the hello and the stream open
// are read off.
struct RawWorker {
  RawWorker() {
    auto [host_fd, worker_fd] = SocketPair();
    peer = std::make_unique<NativePeer>(std::move(worker_fd));
    host = std::make_unique<HostEnd>(std::move(host_fd));
    absl::StatusOr<InFrame> hello = peer->Next(Deadline());
    REQUIRE_THAT(hello.status(), IsOk());
    REQUIRE(hello->kind == FrameKind::kHello);
  }
  // Opens a stream of `method` and returns its id as the worker read it.
  uint64_t OpenStream(int method, std::shared_ptr<HostStream>* stream) {
    *stream = Open(host->connection(), method);
    absl::StatusOr<InFrame> open = peer->Next(Deadline());
    REQUIRE_THAT(open.status(), IsOk());
    REQUIRE(open->kind == FrameKind::kStreamOpen);
    absl::StatusOr<iw::internal::CallView> view = iw::internal::ParseStreamOpen(open->body());
    REQUIRE_THAT(view.status(), IsOk());
    CHECK(view->method == static_cast<uint32_t>(method));
    return view->id;
  }
  void SendMessage(uint64_t id, absl::string_view bytes) {
    FrameBuffer frame;
    char* at =
        iw::internal::AppendStreamMessage(FrameKind::kResponseMessage, id, bytes.size(), &frame);
    if (!bytes.empty()) std::memcpy(at, bytes.data(), bytes.size());
    REQUIRE(peer->Send(&frame, Deadline()));
  }

  // The peer goes first: the host reads its EOF and closes at once.
  std::unique_ptr<HostEnd> host;
  std::unique_ptr<NativePeer> peer;
};

TEST_CASE("Native streams: a worker sending beyond the host's credit breaks the protocol",
          "[e2e][native][stream]") {
  RawWorker worker;
  std::shared_ptr<HostStream> stream;
  const uint64_t id = worker.OpenStream(kCount, &stream);
  const std::string one = Int(1).SerializeAsString();
  for (int i = 0; i <= iw::kStreamWindow; ++i) worker.SendMessage(id, one);
  // Nothing read meanwhile (a read would make room: the host counts the
  // messages it holds unread).
  const absl::Time deadline = Deadline();
  while (worker.host->violations().empty() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  // The window's messages are readable; then the connection's end.
  Int64Value value;
  int read = 0;
  while (stream->Read(&value)) ++read;
  CHECK(read <= iw::kStreamWindow);
  CHECK_THAT(stream->Finish(),
             StatusIs(absl::StatusCode::kUnavailable,
                      absl::StrCat("protocol violation: a response message of stream ", id,
                                   " beyond its credit of ", iw::kStreamWindow)));
  const std::vector<std::string> violations = worker.host->violations();
  REQUIRE(violations.size() == 1);
  CHECK_THAT(violations[0],
             Catch::Matchers::StartsWith(absl::StrCat("a response message of stream ", id)));
}

TEST_CASE("Native streams: a worker's stream frames are checked", "[e2e][native][stream]") {
  RawWorker worker;
  std::shared_ptr<HostStream> stream;
  const uint64_t id = worker.OpenStream(kCount, &stream);
  FrameBuffer bad;
  std::string violation;
  SECTION("a message of a stream never opened") {
    iw::internal::AppendStreamMessage(FrameKind::kResponseMessage, id + 5, 0, &bad);
    violation =
        absl::StrCat("a response message frame of stream ", id + 5, ", which was never opened");
  }
  SECTION("a stream's end carrying a message") {
    iw::internal::ReplyFields reply;
    reply.id = id;
    iw::internal::AppendReply(reply, 1, &bad)[0] = 'x';
    violation = absl::StrCat("the end of stream ", id, " carries 1 bytes of message");
  }
  SECTION("a credit of 0") {
    iw::internal::AppendCredit(FrameKind::kRequestCredit, id, 0, &bad);
    violation = "malformed request credit frame: a credit of 0 messages";
  }
  SECTION("a host's frame") {
    iw::internal::AppendHalfClose(id, &bad);
    violation = "a half-close frame came from the worker";
  }
  REQUIRE(worker.peer->Send(&bad, Deadline()));
  CHECK_THAT(stream->Finish(), StatusIs(absl::StatusCode::kUnavailable, "protocol violation"));
  const std::vector<std::string> violations = worker.host->violations();
  REQUIRE(violations.size() == 1);
  CHECK_THAT(violations[0], Catch::Matchers::StartsWith(violation));
}

TEST_CASE("Native streams: frames of a stream that ended are ignored", "[e2e][native][stream]") {
  RawWorker worker;
  std::shared_ptr<HostStream> stream;
  const uint64_t id = worker.OpenStream(kCount, &stream);
  stream->Cancel();
  absl::StatusOr<InFrame> cancel = worker.peer->Next(Deadline());
  REQUIRE_THAT(cancel.status(), IsOk());
  CHECK(cancel->kind == FrameKind::kCancel);
  // What crossed the cancel.
  worker.SendMessage(id, Int(1).SerializeAsString());
  FrameBuffer frames;
  iw::internal::AppendCredit(FrameKind::kRequestCredit, id, 1, &frames);
  iw::internal::ReplyFields reply;
  reply.id = id;
  iw::internal::AppendReply(reply, 0, &frames);
  REQUIRE(worker.peer->Send(&frames, Deadline()));
  CHECK_THAT(stream->Finish(), StatusIs(absl::StatusCode::kCancelled));
  // The connection still works: a new stream is opened and ended.
  std::shared_ptr<HostStream> next;
  const uint64_t next_id = worker.OpenStream(kCount, &next);
  FrameBuffer end;
  reply.id = next_id;
  iw::internal::AppendReply(reply, 0, &end);
  REQUIRE(worker.peer->Send(&end, Deadline()));
  CHECK_THAT(next->Finish(), IsOk());
  CHECK(worker.host->violations().empty());
}

TEST_CASE("Native streams: a connection broken mid-stream ends the stream with UNAVAILABLE",
          "[e2e][native][stream]") {
  RawWorker worker;
  std::shared_ptr<HostStream> stream;
  const uint64_t id = worker.OpenStream(kCount, &stream);
  worker.SendMessage(id, Int(1).SerializeAsString());
  Int64Value value;
  REQUIRE(stream->Read(&value));
  worker.peer.reset();  // the worker is gone
  CHECK_FALSE(stream->Read(&value));
  CHECK_THAT(stream->Finish(),
             StatusIs(absl::StatusCode::kUnavailable, "connection to the worker ended"));
  CHECK(worker.host->violations().empty());
}

// ---------------------------------------------------------------------------
// A host that breaks the protocol (the host played by a NativePeer).
// ---------------------------------------------------------------------------

TEST_CASE("Native streams: a host breaking the stream protocol gets a GoAway",
          "[e2e][native][stream]") {
  iw::internal::Dispatcher dispatcher(Binding(), "native-stream-test", iw::WorkerConfig{});
  auto [host_fd, worker_fd] = SocketPair();
  std::unique_ptr<iw::internal::NativeCarrier> carrier =
      iw::internal::StartNativeCarrier(&dispatcher, std::move(worker_fd));
  NativePeer peer(std::move(host_fd));
  REQUIRE(peer.Send(HelloFrame(kService), Deadline()));
  iw::internal::CallFields open;
  open.id = 1;
  open.method = kStall;
  open.timeout_us = static_cast<uint64_t>(absl::ToInt64Microseconds(LongWait()));
  FrameBuffer bad;
  iw::internal::AppendStreamOpen(open, &bad);
  std::string violation;
  SECTION("requests beyond the worker's credit") {
    const std::string line = Str("x").SerializeAsString();
    for (int i = 0; i <= iw::kStreamWindow; ++i) {
      std::memcpy(
          iw::internal::AppendStreamMessage(FrameKind::kRequestMessage, 1, line.size(), &bad),
          line.data(), line.size());
    }
    violation = absl::StrCat("a request message on stream 1 beyond its credit of ",
                             iw::kStreamWindow, " messages");
  }
  SECTION("a request after the half-close") {
    iw::internal::AppendHalfClose(1, &bad);
    iw::internal::AppendStreamMessage(FrameKind::kRequestMessage, 1, 0, &bad);
    violation = "a request message on stream 1 after its half-close";
  }
  SECTION("a stream open of a unary method") {
    open.id = 2;
    open.method = kUnary;
    iw::internal::AppendStreamOpen(open, &bad);
    violation =
        "stream 2 of iwtest.StreamService.Unary came in a stream open frame but the "
        "method is unary";
  }
  SECTION("a call of a streaming method") {
    open.id = 2;
    open.method = kCount;
    iw::internal::AppendCall(open, 0, &bad);
    violation =
        "call 2 of iwtest.StreamService.Count came in a call frame but the method is "
        "streaming";
  }
  SECTION("a stream frame naming a unary call") {
    open.id = 2;
    open.method = kUnary;
    // A unary call still running: its request is still coming... the frame
    // names it before it answers (the reader handles them in order).
    iw::internal::AppendCall(open, 0, &bad);
    iw::internal::AppendHalfClose(2, &bad);
    violation = "a half-close frame names call 2, which is unary";
  }
  SECTION("a worker's frame") {
    iw::internal::AppendCredit(FrameKind::kRequestCredit, 1, 1, &bad);
    violation = "a request credit frame came from the host";
  }
  REQUIRE(peer.Send(&bad, Deadline()));
  std::vector<std::string> goaways;
  while (true) {
    absl::StatusOr<InFrame> frame = peer.Next(Deadline());
    if (!frame.ok()) {
      CHECK_THAT(frame.status(), StatusIs(absl::StatusCode::kUnavailable, "connection closed"));
      break;
    }
    if (frame->kind == FrameKind::kGoAway) {
      absl::StatusOr<std::string> reason = iw::internal::ParseGoAway(frame->body());
      REQUIRE_THAT(reason.status(), IsOk());
      goaways.push_back(*reason);
    }
  }
  REQUIRE(goaways.size() == 1);
  CHECK_THAT(goaways[0], Catch::Matchers::StartsWith(violation));
  REQUIRE(carrier->WaitDone(Deadline()));
  CHECK_THAT(carrier->status(), StatusIs(absl::StatusCode::kInvalidArgument, violation));
}

TEST_CASE("Native streams: a stream open of a method the worker does not serve is refused",
          "[e2e][native][stream]") {
  iw::internal::Dispatcher dispatcher(Binding(), "native-stream-test", iw::WorkerConfig{});
  auto [host_fd, worker_fd] = SocketPair();
  std::unique_ptr<iw::internal::NativeCarrier> carrier =
      iw::internal::StartNativeCarrier(&dispatcher, std::move(worker_fd));
  NativePeer peer(std::move(host_fd));
  REQUIRE(peer.Send(HelloFrame(std::vector<absl::string_view>{"/iwtest.StreamService/Gone"}),
                    Deadline()));
  iw::internal::CallFields open;
  open.id = 1;
  FrameBuffer frame;
  iw::internal::AppendStreamOpen(open, &frame);
  REQUIRE(peer.Send(&frame, Deadline()));
  absl::StatusOr<InFrame> reply_frame = peer.Next(Deadline());
  REQUIRE_THAT(reply_frame.status(), IsOk());
  absl::StatusOr<iw::testing::PeerReply> reply = iw::testing::ReplyOf(*reply_frame);
  REQUIRE_THAT(reply.status(), IsOk());
  CHECK(reply->id == 1);
  CHECK(reply->code == static_cast<uint32_t>(absl::StatusCode::kUnimplemented));
  peer.CloseWrites();
  REQUIRE(carrier->WaitDone(Deadline()));
  CHECK_THAT(carrier->status(), IsOk());
}

TEST_CASE("Native streams: the host closing the connection cancels the worker's streams",
          "[e2e][native][stream]") {
  Fixture fixture;
  std::shared_ptr<HostStream> stream = Open(fixture.connection(), kStall);
  REQUIRE(AwaitSeen([](Seen& s) { return s.stalls_started == 1; }));
  fixture.connection().Close(LongWait());
  // The worker's end (the handler was cancelled) or the connection's.
  const absl::Status status = stream->Finish();
  CHECK((absl::IsCancelled(status) || absl::IsUnavailable(status)));
  REQUIRE(AwaitSeen([](Seen& s) { return s.handlers_done == 1; }));
  absl::MutexLock lock(&seen().mu);
  CHECK(seen().cancelled);
}

}  // namespace
