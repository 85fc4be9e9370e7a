// The worker end of the native carrier (worker/native_carrier.h), driven
// through a real socketpair: the real Dispatcher serving TestService in this
// process, and the test playing the host with raw frames (the
// wire/native_frames.h codec, or bytes no codec would write).
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "catch2/catch.hpp"
#include "runtime/middleware.h"
#include "runtime/worker/dispatcher.h"
#include "runtime/worker/native_carrier.h"
#include "tests/e2e/native_peer.h"
#include "tests/hardening/limits_service.iw.h"
#include "tests/testing/process_hygiene.h"
#include "tests/testing/status_matchers.h"
#include "tests/workers/test_handler.h"

namespace {

using iw::internal::AppendGoAway;
using iw::internal::AppendReply;
using iw::internal::CallFields;
using iw::internal::FrameBuffer;
using iw::internal::FrameKind;
using iw::internal::InFrame;
using iw::testing::CallFrame;
using iw::testing::CancelFrame;
using iw::testing::HelloFrame;
using iw::testing::NativePeer;
using iw::testing::PeerReply;
using iw::testing::ReplyOf;
using iw::testing::StatusIs;

// TestService's methods, in .proto order (checked by WorkerEnd).
constexpr uint32_t kEcho = 0;
constexpr uint32_t kEchoInline = 1;
constexpr uint32_t kSleep = 2;
constexpr uint32_t kFail = 4;

// Bounds the failure case only.
absl::Time Deadline() { return absl::Now() + absl::Seconds(20) * iw::testing::kSanitizerSlowdown; }

// The worker end of one connection: the Dispatcher, the carrier on one end
// of a socketpair, and the test's NativePeer on the other.
class WorkerEnd {
 public:
  explicit WorkerEnd(const iw::codegen::ServiceBinding& binding, iw::WorkerConfig config = {})
      : dispatcher_(binding, "native-worker-end-test", std::move(config)) {
    int fds[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
    carrier_ = iw::internal::StartNativeCarrier(&dispatcher_, iw::internal::UniqueFd(fds[0]));
    peer_ = std::make_unique<NativePeer>(iw::internal::UniqueFd(fds[1]));
  }
  ~WorkerEnd() {
    // EOF for the carrier; its calls are cancelled if they run on.
    peer_.reset();
    if (!carrier_->WaitDone(Deadline())) FAIL_CHECK("the carrier did not end after EOF");
  }

  NativePeer& peer() { return *peer_; }
  iw::internal::NativeCarrier& carrier() { return *carrier_; }
  const iw::codegen::ServiceInfo& service() { return *dispatcher_.binding().service; }

  void Send(FrameBuffer frames) { REQUIRE(peer_->Send(&frames, Deadline())); }
  InFrame Next() {
    absl::StatusOr<InFrame> frame = peer_->Next(Deadline());
    REQUIRE_THAT(frame.status(), iw::testing::IsOk());
    return std::move(*frame);
  }
  PeerReply NextReply() {
    absl::StatusOr<PeerReply> reply = ReplyOf(Next());
    REQUIRE_THAT(reply.status(), iw::testing::IsOk());
    return std::move(*reply);
  }
  // Replies until `n` came, by id.
  std::map<uint64_t, PeerReply> Replies(int n) {
    std::map<uint64_t, PeerReply> replies;
    for (int i = 0; i < n; ++i) {
      PeerReply reply = NextReply();
      const uint64_t id = reply.id;
      CHECK(replies.emplace(id, std::move(reply)).second);
    }
    return replies;
  }
  // The peer reads EOF next, and the carrier ends with OK.
  void ExpectCleanEnd() {
    CHECK_THAT(peer_->Next(Deadline()).status(),
               StatusIs(absl::StatusCode::kUnavailable, "connection closed"));
    REQUIRE(carrier_->WaitDone(Deadline()));
    CHECK_THAT(carrier_->status(), iw::testing::IsOk());
  }

 private:
  iw::internal::Dispatcher dispatcher_;
  std::unique_ptr<iw::internal::NativeCarrier> carrier_;
  std::unique_ptr<NativePeer> peer_;
};

iwtest::TestHandler& Handler() {
  static iwtest::TestHandler* handler = new iwtest::TestHandler;
  return *handler;
}

iw::codegen::ServiceBinding TestBinding() { return iwtest::BindTestServiceHandler(Handler()); }

// A file a Sleep handler creates once it runs: the call is running, not
// queued.
std::string MarkerPath(absl::string_view name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = absl::StrCat(dir != nullptr ? dir : "/tmp", "/native_worker_end_", ::getpid(),
                                  "_", name, "_", absl::ToUnixNanos(absl::Now()));
  ::unlink(path.c_str());
  return path;
}

bool WaitForFile(const std::string& path) {
  const absl::Time deadline = Deadline();
  while (absl::Now() < deadline) {
    if (::access(path.c_str(), F_OK) == 0) return true;
    absl::SleepFor(absl::Milliseconds(2));
  }
  return false;
}

template <typename Message>
Message Parse(const PeerReply& reply) {
  Message message;
  CHECK(message.ParseFromString(reply.payload));
  return message;
}

iwtest::SleepRequest LongSleep(int64_t tag, const std::string& marker) {
  iwtest::SleepRequest sleep;
  sleep.set_ms(120000);
  sleep.set_stop_when_cancelled(true);
  sleep.set_tag(tag);
  sleep.set_started_marker(marker);
  return sleep;
}

// A header of `kind` announcing `body_size` bytes, and `body`.
FrameBuffer RawFrame(uint8_t kind, uint32_t body_size, absl::string_view body = {},
                     uint8_t reserved = 0) {
  FrameBuffer out;
  char* header = out.Extend(8 + body.size());
  std::memcpy(header, &body_size, 4);  // little-endian host (x86-64, arm64)
  header[4] = static_cast<char>(kind);
  header[5] = static_cast<char>(reserved);
  header[6] = 0;
  header[7] = 0;
  if (!body.empty()) std::memcpy(header + 8, body.data(), body.size());
  return out;
}

TEST_CASE("Native worker end: the method table matches TestService's .proto order",
          "[native][worker_end]") {
  const iw::codegen::ServiceInfo& service = *TestBinding().service;
  CHECK(std::string(service.methods[kEcho].name) == "Echo");
  CHECK(std::string(service.methods[kEchoInline].name) == "EchoInline");
  CHECK(std::string(service.methods[kSleep].name) == "Sleep");
  CHECK(std::string(service.methods[kFail].name) == "Fail");
}

TEST_CASE("Native worker end: a valid hello and calls get the right replies",
          "[native][worker_end]") {
  WorkerEnd end(TestBinding());
  end.Send(HelloFrame(end.service()));
  iwtest::EchoRequest echo;
  echo.set_text("hello");
  echo.set_payload(std::string(100000, 'p'));
  end.Send(CallFrame(1, kEcho, echo));
  end.Send(CallFrame(2, kEchoInline, echo));
  CallFields timed;
  timed.id = 3;
  timed.method = kSleep;
  timed.timeout_us = 5000000;
  iwtest::SleepRequest sleep;
  sleep.set_tag(33);
  end.Send(CallFrame(timed, sleep));
  iwtest::FailRequest fail;
  fail.set_code(static_cast<int>(absl::StatusCode::kNotFound));
  fail.set_message("no such widget");
  end.Send(CallFrame(4, kFail, fail));

  std::map<uint64_t, PeerReply> replies = end.Replies(4);
  REQUIRE(replies.size() == 4);
  REQUIRE(replies[1].code == 0);
  iwtest::EchoReply reply = Parse<iwtest::EchoReply>(replies[1]);
  CHECK(reply.text() == "hello");
  CHECK(reply.payload() == echo.payload());
  CHECK(reply.pid() == ::getpid());
  // No timeout sent: no deadline.
  CHECK(reply.deadline_left_ms() > 1000000);
  REQUIRE(replies[2].code == 0);
  // Inline: on the carrier's reader thread.
  CHECK(Parse<iwtest::EchoReply>(replies[2]).text() == "hello|iw-native-read");
  REQUIRE(replies[3].code == 0);
  iwtest::SleepReply slept = Parse<iwtest::SleepReply>(replies[3]);
  CHECK(slept.tag() == 33);
  CHECK(slept.deadline_left_ms() > 0);
  CHECK(slept.deadline_left_ms() <= 5000);
  CHECK(replies[4].code == static_cast<uint32_t>(absl::StatusCode::kNotFound));
  CHECK_THAT(replies[4].message, Catch::Matchers::Contains("no such widget"));
  CHECK(replies[4].payload.empty());

  end.peer().CloseWrites();
  end.ExpectCleanEnd();
}

TEST_CASE(
    "Native worker end: a frame that breaks the protocol gets a GoAway naming the "
    "violation and then EOF; calls already running are still answered",
    "[native][worker_end]") {
  WorkerEnd end(TestBinding());
  const std::string marker = MarkerPath("running");
  // Whether the hello goes first (and a call is running when `bad` comes).
  bool hello = true;
  FrameBuffer bad;
  std::string violation;
  iwtest::EchoRequest echo;
  echo.set_text("x");

  SECTION("a call before the hello") {
    hello = false;
    bad = CallFrame(1, kEcho, echo);
    violation = "a call frame came before the hello frame";
  }
  SECTION("a cancel before the hello") {
    hello = false;
    bad = CancelFrame(1);
    violation = "a cancel frame came before the hello frame";
  }
  SECTION("a second hello") {
    bad = HelloFrame(end.service());
    violation = "a second hello frame";
  }
  SECTION("a hello of another version") {
    hello = false;
    bad = HelloFrame(end.service());
    // The version, first field of the body: one this worker does not speak.
    bad.data()[8] = static_cast<char>(iw::internal::kNativeVersion + 1);
    violation = absl::StrCat("native carrier version ", iw::internal::kNativeVersion + 1,
                             " is not supported; this worker speaks version ",
                             iw::internal::kNativeVersion);
  }
  SECTION("a method index beyond the hello's table") {
    bad = CallFrame(5, 99, echo);
    violation = absl::StrCat("call 5 names method #99 but the hello listed ",
                             end.service().method_count, " methods");
  }
  SECTION("the id of a call still running") {
    bad = CallFrame(1, kEcho, echo);
    violation = "call id 1 is already running";
  }
  SECTION("a reply frame, which only the worker sends") {
    iw::internal::ReplyFields reply;
    reply.id = 1;
    AppendReply(reply, 0, &bad);
    violation = "a reply frame came from the host";
  }
  SECTION("a goaway frame, which only the worker sends") {
    AppendGoAway("bye", &bad);
    violation = "a goaway frame came from the host";
  }
  SECTION("a call body too short for its fields") {
    bad = RawFrame(static_cast<uint8_t>(FrameKind::kCall), 5, std::string("\1\0\0\0\0", 5));
    violation = "malformed call frame: ";
  }
  SECTION("a call whose metadata count is larger than its body") {
    CallFields fields;
    fields.id = 9;
    bad = CallFrame(fields, echo);
    // id, method, timeout, replace-after, request id length (0), then the
    // metadata count.
    const uint32_t count = 1000;
    std::memcpy(bad.data() + 8 + 8 + 4 + 8 + 8 + 4, &count, 4);
    violation = "malformed call frame: ";
  }
  SECTION("a call with id 0") {
    bad = CallFrame(0, kEcho, echo);
    violation = "malformed call frame: call id 0";
  }
  SECTION("a cancel with trailing bytes") {
    bad =
        RawFrame(static_cast<uint8_t>(FrameKind::kCancel), 9, std::string("\1\0\0\0\0\0\0\0\0", 9));
    violation = "malformed cancel frame: ";
  }
  SECTION("a header announcing a body over the limit") {
    bad = RawFrame(static_cast<uint8_t>(FrameKind::kCall), 0xfffffff0u);
    violation = "malformed frame header: a call frame of 4294967280 bytes is over the limit of ";
  }
  SECTION("a hello header over the hello's limit") {
    hello = false;
    bad = RawFrame(static_cast<uint8_t>(FrameKind::kHello), 64 << 20);
    violation = "malformed frame header: a hello frame of 67108864 bytes is over the limit of ";
  }
  SECTION("a bad frame and a bad header in one write: only the first is told") {
    bad = CallFrame(1, kEcho, echo);
    FrameBuffer header = RawFrame(0x42, 0);
    std::memcpy(bad.Extend(header.size()), header.data(), header.size());
    violation = "call id 1 is already running";
  }
  SECTION("a header of an unknown kind") {
    bad = RawFrame(0x42, 0);
    violation = "malformed frame header: unknown frame kind 66";
  }
  SECTION("a header whose reserved bytes are not zero") {
    bad = RawFrame(static_cast<uint8_t>(FrameKind::kCancel), 8, std::string(8, '\1'), 7);
    violation = "malformed frame header: the reserved bytes of a cancel frame are not zero";
  }

  if (hello) {
    end.Send(HelloFrame(end.service()));
    end.Send(CallFrame(1, kSleep, LongSleep(7, marker)));
    REQUIRE(WaitForFile(marker));
  }
  end.Send(std::move(bad));

  // Everything up to EOF: one GoAway, and the reply of the running call.
  std::vector<std::string> goaways;
  std::map<uint64_t, PeerReply> replies;
  absl::Status ended;
  while (true) {
    absl::StatusOr<InFrame> frame = end.peer().Next(Deadline());
    if (!frame.ok()) {
      ended = frame.status();
      break;
    }
    if (frame->kind == FrameKind::kGoAway) {
      absl::StatusOr<std::string> reason = iw::internal::ParseGoAway(frame->body());
      REQUIRE_THAT(reason.status(), iw::testing::IsOk());
      goaways.push_back(*reason);
      continue;
    }
    absl::StatusOr<PeerReply> reply = ReplyOf(*frame);
    REQUIRE_THAT(reply.status(), iw::testing::IsOk());
    const uint64_t id = reply->id;
    CHECK(replies.emplace(id, std::move(*reply)).second);
  }
  CHECK_THAT(ended, StatusIs(absl::StatusCode::kUnavailable, "connection closed"));
  REQUIRE(goaways.size() == 1);
  CHECK_THAT(goaways[0], Catch::Matchers::StartsWith(violation));
  if (hello) {
    // The running call was told (cancelled) and answered.
    REQUIRE(replies.size() == 1);
    REQUIRE(replies.count(1) == 1);
    REQUIRE(replies[1].code == 0);
    iwtest::SleepReply slept = Parse<iwtest::SleepReply>(replies[1]);
    CHECK(slept.tag() == 7);
    CHECK(slept.saw_cancelled());
  } else {
    CHECK(replies.empty());
  }
  REQUIRE(end.carrier().WaitDone(Deadline()));
  CHECK_THAT(end.carrier().status(), StatusIs(absl::StatusCode::kInvalidArgument, violation));
}

TEST_CASE(
    "Native worker end: a method the worker does not serve gets UNIMPLEMENTED naming "
    "its path, and the connection stays usable",
    "[native][worker_end]") {
  WorkerEnd end(TestBinding());
  end.Send(HelloFrame({"/iwtest.TestService/Echo", "/iwtest.TestService/Teleport"}));
  iwtest::EchoRequest echo;
  echo.set_text("still here");
  end.Send(CallFrame(1, 1, echo));
  PeerReply refused = end.NextReply();
  CHECK(refused.id == 1);
  CHECK(refused.code == static_cast<uint32_t>(absl::StatusCode::kUnimplemented));
  CHECK_THAT(refused.message,
             Catch::Matchers::Contains("unknown method /iwtest.TestService/Teleport; this worker "
                                       "serves iwtest.TestService"));
  end.Send(CallFrame(2, 0, echo));
  PeerReply served = end.NextReply();
  CHECK(served.id == 2);
  REQUIRE(served.code == 0);
  CHECK(Parse<iwtest::EchoReply>(served).text() == "still here");
  end.peer().CloseWrites();
  end.ExpectCleanEnd();
}

// iwtest.LimitsService: max_request_bytes 1024, max_response_bytes 2048.
class LimitsHandler final : public iwtest::LimitsServiceHandler {
 public:
  absl::StatusOr<iwtest::SizedReply> Sized(iw::CallContext&,
                                           const iwtest::SizedRequest& request) override {
    iwtest::SizedReply reply;
    reply.set_payload(std::string(static_cast<size_t>(request.reply_bytes()), 'r'));
    return reply;
  }
};

TEST_CASE(
    "Native worker end: a message over a size limit gets RESOURCE_EXHAUSTED, and the "
    "connection stays usable",
    "[native][worker_end]") {
  SECTION("a request over the .proto's max_request_bytes, though under the host's") {
    static LimitsHandler handler;
    WorkerEnd end(iwtest::BindLimitsServiceHandler(handler));
    // The host would send up to 1 MiB: the frame is read, the call refused.
    end.Send(HelloFrame(end.service(), /*max_request=*/1 << 20));
    iwtest::SizedRequest big;
    big.set_payload(std::string(4000, 'q'));
    end.Send(CallFrame(1, 0, big));
    PeerReply refused = end.NextReply();
    CHECK(refused.id == 1);
    CHECK(refused.code == static_cast<uint32_t>(absl::StatusCode::kResourceExhausted));
    CHECK_THAT(refused.message, Catch::Matchers::Contains("1024"));
    iwtest::SizedRequest small;
    small.set_reply_bytes(10);
    end.Send(CallFrame(2, 0, small));
    PeerReply served = end.NextReply();
    CHECK(served.id == 2);
    REQUIRE(served.code == 0);
    CHECK(Parse<iwtest::SizedReply>(served).payload() == std::string(10, 'r'));
    end.peer().CloseWrites();
    end.ExpectCleanEnd();
  }
  SECTION("a reply over the hello's reply limit") {
    WorkerEnd end(TestBinding());
    end.Send(HelloFrame(end.service(), 64 << 20, /*max_reply=*/100));
    iwtest::EchoRequest echo;
    echo.set_payload(std::string(200, 'e'));
    end.Send(CallFrame(1, kEcho, echo));
    PeerReply refused = end.NextReply();
    CHECK(refused.id == 1);
    CHECK(refused.code == static_cast<uint32_t>(absl::StatusCode::kResourceExhausted));
    CHECK(refused.payload.empty());
    echo.set_payload("fits");
    end.Send(CallFrame(2, kEcho, echo));
    PeerReply served = end.NextReply();
    REQUIRE(served.code == 0);
    CHECK(Parse<iwtest::EchoReply>(served).payload() == "fits");
    end.peer().CloseWrites();
    end.ExpectCleanEnd();
  }
}

TEST_CASE("Native worker end: a cancel frame reaches the running handler", "[native][worker_end]") {
  WorkerEnd end(TestBinding());
  end.Send(HelloFrame(end.service()));
  const std::string marker = MarkerPath("cancel");
  end.Send(CallFrame(1, kSleep, LongSleep(11, marker)));
  REQUIRE(WaitForFile(marker));
  // A cancel for an id that is not running (a reply crossed it) is fine.
  end.Send(CancelFrame(12345));
  end.Send(CancelFrame(1));
  PeerReply reply = end.NextReply();
  CHECK(reply.id == 1);
  REQUIRE(reply.code == 0);
  iwtest::SleepReply slept = Parse<iwtest::SleepReply>(reply);
  CHECK(slept.tag() == 11);
  CHECK(slept.saw_cancelled());
  // The connection serves on.
  iwtest::EchoRequest echo;
  echo.set_text("after");
  end.Send(CallFrame(2, kEcho, echo));
  CHECK(Parse<iwtest::EchoReply>(end.NextReply()).text() == "after");
  end.peer().CloseWrites();
  end.ExpectCleanEnd();
}

// Sends back what the handler saw of the call: its request id and metadata.
class EchoCallMiddleware final : public iw::WorkerMiddleware {
 public:
  absl::Status OnRequest(iw::WorkerCall& call) override {
    call.context.AddResponseMetadata("seen-request-id", call.context.request_id());
    for (const auto& [key, value] : call.context.request_metadata()) {
      call.context.AddResponseMetadata(absl::StrCat("seen-", key), value);
    }
    return absl::OkStatus();
  }
};

TEST_CASE(
    "Native worker end: request metadata and the request id reach the handler; response "
    "metadata comes back, on success and on failure",
    "[native][worker_end]") {
  iw::WorkerConfig config;
  config.middleware.push_back(std::make_shared<EchoCallMiddleware>());
  WorkerEnd end(TestBinding(), config);
  end.Send(HelloFrame(end.service()));
  iw::Metadata metadata = {{"color", "blue"},
                           {"blob-bin", std::string("\0\xff\n", 3)},
                           // Reserved: never reaches the handler.
                           {"iw-secret", "forged"}};
  CallFields fields;
  fields.id = 1;
  fields.method = kEcho;
  fields.request_id = "0123456789abcdef";
  fields.metadata = &metadata;
  iwtest::EchoRequest echo;
  echo.set_text("meta");
  end.Send(CallFrame(fields, echo));
  PeerReply reply = end.NextReply();
  REQUIRE(reply.code == 0);
  CHECK(Parse<iwtest::EchoReply>(reply).text() == "meta");
  const iw::Metadata expected = {{"seen-request-id", "0123456789abcdef"},
                                 {"seen-color", "blue"},
                                 {"seen-blob-bin", std::string("\0\xff\n", 3)}};
  CHECK(reply.metadata == expected);

  fields.id = 2;
  fields.method = kFail;
  fields.request_id = "fedcba9876543210";
  iwtest::FailRequest fail;
  fail.set_code(static_cast<int>(absl::StatusCode::kAborted));
  fail.set_message("conflict");
  end.Send(CallFrame(fields, fail));
  PeerReply failed = end.NextReply();
  CHECK(failed.code == static_cast<uint32_t>(absl::StatusCode::kAborted));
  CHECK(failed.metadata.count("seen-request-id") == 1);
  CHECK(failed.metadata.find("seen-request-id")->second == "fedcba9876543210");
  end.peer().CloseWrites();
  end.ExpectCleanEnd();
}

TEST_CASE(
    "Native worker end: at EOF the calls already sent run to the end, are answered, and "
    "the carrier ends with OK",
    "[native][worker_end]") {
  WorkerEnd end(TestBinding());
  end.Send(HelloFrame(end.service()));
  constexpr int kCalls = 5;
  for (int i = 1; i <= kCalls; ++i) {
    iwtest::SleepRequest sleep;
    sleep.set_ms(100);
    sleep.set_tag(i);
    end.Send(CallFrame(static_cast<uint64_t>(i), kSleep, sleep));
  }
  end.peer().CloseWrites();
  std::map<uint64_t, PeerReply> replies = end.Replies(kCalls);
  for (int i = 1; i <= kCalls; ++i) {
    INFO("call " << i);
    REQUIRE(replies[i].code == 0);
    iwtest::SleepReply slept = Parse<iwtest::SleepReply>(replies[i]);
    CHECK(slept.tag() == i);
    // Run to the end: not cancelled by the EOF.
    CHECK_FALSE(slept.saw_cancelled());
  }
  end.ExpectCleanEnd();
}

TEST_CASE("Native worker end: a 16 MiB request and reply cross in whole frames",
          "[native][worker_end]") {
  WorkerEnd end(TestBinding());
  end.Send(HelloFrame(end.service()));
  iwtest::EchoRequest echo;
  std::string payload(16 << 20, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7 + (i >> 12));
  echo.set_payload(payload);
  end.Send(CallFrame(1, kEcho, echo));
  end.Send(CallFrame(2, kEcho, echo));
  std::map<uint64_t, PeerReply> replies = end.Replies(2);
  for (uint64_t id : {1, 2}) {
    REQUIRE(replies[id].code == 0);
    CHECK(Parse<iwtest::EchoReply>(replies[id]).payload() == payload);
  }
  end.peer().CloseWrites();
  end.ExpectCleanEnd();
}

}  // namespace
