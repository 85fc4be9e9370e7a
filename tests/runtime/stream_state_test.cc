// StreamState (runtime/common/stream_state.h): the flow control every carrier
// of streams shares — the message and byte windows, credits given back in
// batches, and the end.
#include "runtime/common/stream_state.h"

#include <string>
#include <thread>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "catch2/catch.hpp"

namespace {

using iw::internal::StreamMessage;
using iw::internal::StreamState;

StreamMessage Bytes(size_t size) { return StreamMessage::Own(std::string(size, 'x')); }

absl::Time Soon() { return absl::Now() + absl::Milliseconds(20); }

TEST_CASE("StreamState: a receiver refuses a message beyond the window of messages",
          "[stream_state]") {
  StreamState state;
  for (int i = 0; i < iw::kStreamWindow; ++i) {
    REQUIRE(state.PushMessage(Bytes(1)) == StreamState::Push::kQueued);
  }
  CHECK(state.PushMessage(Bytes(1)) == StreamState::Push::kOverWindow);
}

TEST_CASE(
    "StreamState: a peer that sends beyond its credit is caught even while the reader keeps up",
    "[stream_state]") {
  StreamState state;
  for (int i = 0; i < iw::kStreamWindow; ++i) {
    REQUIRE(state.PushMessage(Bytes(1)) == StreamState::Push::kQueued);
  }
  // Read fewer than a batch: no credit has gone back yet.
  for (int i = 0; i < iw::kStreamWindow / 4; ++i) {
    StreamMessage message;
    StreamState::Grant grant;
    REQUIRE(state.Pop(Soon(), &message, &grant) == StreamState::Next::kMessage);
    REQUIRE(grant.messages == 0);
  }
  CHECK(state.PushMessage(Bytes(1)) == StreamState::Push::kOverWindow);
}

TEST_CASE("StreamState: credit given back makes room for as many messages again",
          "[stream_state]") {
  StreamState state;
  for (int i = 0; i < iw::kStreamWindow; ++i) {
    REQUIRE(state.PushMessage(Bytes(1)) == StreamState::Push::kQueued);
  }
  int granted = 0;
  while (granted == 0) {
    StreamMessage message;
    StreamState::Grant grant;
    REQUIRE(state.Pop(Soon(), &message, &grant) == StreamState::Next::kMessage);
    granted = grant.messages;
  }
  for (int i = 0; i < granted; ++i) {
    REQUIRE(state.PushMessage(Bytes(1)) == StreamState::Push::kQueued);
  }
  CHECK(state.PushMessage(Bytes(1)) == StreamState::Push::kOverWindow);
}

TEST_CASE("StreamState: a receiver refuses a message once the window's bytes are unread",
          "[stream_state]") {
  StreamState state;
  // One message may be as large as it likes (its size limit applies)...
  REQUIRE(state.PushMessage(Bytes(iw::kStreamWindowBytes)) == StreamState::Push::kQueued);
  // ...but none may follow while it is unread.
  CHECK(state.PushMessage(Bytes(1)) == StreamState::Push::kOverWindow);
}

TEST_CASE("StreamState: a sender waits once half the window's bytes are unacknowledged",
          "[stream_state]") {
  StreamState state;
  REQUIRE(state.TakeCredit(Soon(), iw::kStreamWindowBytes / 2) == StreamState::Credit::kGranted);
  CHECK(state.TakeCredit(Soon(), 1) == StreamState::Credit::kDeadline);
  state.AddCredit(1);
  CHECK(state.TakeCredit(Soon(), 1) == StreamState::Credit::kGranted);
}

TEST_CASE(
    "StreamState: a sender waits with a window of messages unacknowledged; credits "
    "free the oldest first",
    "[stream_state]") {
  StreamState state;
  for (int i = 0; i < iw::kStreamWindow; ++i) {
    REQUIRE(state.TakeCredit(Soon(), 10) == StreamState::Credit::kGranted);
  }
  CHECK(state.TakeCredit(Soon(), 10) == StreamState::Credit::kDeadline);
  state.AddCredit(2);
  CHECK(state.TakeCredit(Soon(), 10) == StreamState::Credit::kGranted);
  CHECK(state.TakeCredit(Soon(), 10) == StreamState::Credit::kGranted);
  CHECK(state.TakeCredit(Soon(), 10) == StreamState::Credit::kDeadline);
}

TEST_CASE("StreamState: credits beyond what was sent give nothing more", "[stream_state]") {
  StreamState state;
  state.AddCredit(1 << 30);  // a hostile peer's repeated credit frames
  for (int i = 0; i < iw::kStreamWindow; ++i) {
    REQUIRE(state.TakeCredit(Soon(), 1) == StreamState::Credit::kGranted);
  }
  CHECK(state.TakeCredit(Soon(), 1) == StreamState::Credit::kDeadline);
}

TEST_CASE(
    "StreamState: a reader gives credit back in batches, and a blocked sender always "
    "gets one",
    "[stream_state]") {
  SECTION("small messages: every half window of messages") {
    StreamState state;
    for (int i = 0; i < iw::kStreamWindow; ++i) {
      REQUIRE(state.PushMessage(Bytes(16)) == StreamState::Push::kQueued);
    }
    int granted = 0;
    int grants = 0;
    for (int i = 0; i < iw::kStreamWindow; ++i) {
      StreamMessage message;
      StreamState::Grant grant;
      REQUIRE(state.Pop(Soon(), &message, &grant) == StreamState::Next::kMessage);
      if (grant.messages > 0) {
        ++grants;
        granted += grant.messages;
        CHECK(grant.bytes == static_cast<size_t>(grant.messages) * 16);
      }
    }
    CHECK(grants == 2);
    CHECK(granted == iw::kStreamWindow);
  }
  SECTION("large messages: every quarter of the byte window") {
    StreamState state;
    const size_t quarter = iw::kStreamWindowBytes / 4;
    REQUIRE(state.PushMessage(Bytes(quarter)) == StreamState::Push::kQueued);
    StreamMessage message;
    StreamState::Grant grant;
    REQUIRE(state.Pop(Soon(), &message, &grant) == StreamState::Next::kMessage);
    CHECK(grant.messages == 1);
    CHECK(grant.bytes == quarter);
  }
}

TEST_CASE("StreamState: a local end drops unread messages; the peer's end keeps them readable",
          "[stream_state]") {
  StreamMessage message;
  StreamState::Grant grant;
  SECTION("the peer's end") {
    StreamState state;
    REQUIRE(state.PushMessage(Bytes(3)) == StreamState::Push::kQueued);
    REQUIRE(state.End(absl::OkStatus(), /*keep_queued=*/true));
    CHECK(state.Pop(Soon(), &message, &grant) == StreamState::Next::kMessage);
    CHECK(state.Pop(Soon(), &message, &grant) == StreamState::Next::kEnded);
  }
  SECTION("a local end") {
    StreamState state;
    REQUIRE(state.PushMessage(Bytes(3)) == StreamState::Push::kQueued);
    REQUIRE(state.End(absl::CancelledError("cancelled"), /*keep_queued=*/false));
    CHECK(state.Pop(Soon(), &message, &grant) == StreamState::Next::kEnded);
    CHECK_FALSE(state.End(absl::OkStatus(), true));  // the first end wins
    CHECK(state.status().code() == absl::StatusCode::kCancelled);
  }
}

TEST_CASE("StreamState: the end wakes a sender waiting for credit", "[stream_state]") {
  StreamState state;
  for (int i = 0; i < iw::kStreamWindow; ++i) {
    REQUIRE(state.TakeCredit(Soon(), 1) == StreamState::Credit::kGranted);
  }
  std::thread ender([&] {
    absl::SleepFor(absl::Milliseconds(10));
    state.End(absl::CancelledError("gone"), false);
  });
  CHECK(state.TakeCredit(absl::Now() + absl::Seconds(30), 1) == StreamState::Credit::kEnded);
  ender.join();
}

}  // namespace
