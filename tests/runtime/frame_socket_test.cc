// FrameSocket (runtime/transport/frame_socket.h) on real socketpairs: frames
// written by several threads arrive whole and in each thread's order; a full
// socket queues (kBlocked) until Flush(); large frames; EOF, a closed peer
// (EPIPE, never SIGPIPE), CloseWrites() and malformed headers.
#include "runtime/transport/frame_socket.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "catch2/catch.hpp"
#include "runtime/process/unique_fd.h"
#include "runtime/wire/native_frames.h"
#include "tests/runtime/bounded_waits.h"
#include "tests/testing/status_matchers.h"

namespace {

using iw::internal::AppendCall;
using iw::internal::AppendCancel;
using iw::internal::CallFields;
using iw::internal::FrameBuffer;
using iw::internal::FrameKind;
using iw::internal::FrameSocket;
using iw::internal::InFrame;
using iw::internal::ParseCall;
using iw::internal::ParseCancel;
using iw::internal::UniqueFd;
using iw::testing::BoundedThread;
using iw::testing::IsOk;
using iw::testing::kLongWait;
using iw::testing::StatusIs;
using WriteResult = FrameSocket::WriteResult;

constexpr size_t kMaxBody = 64 << 20;

// Both ends of a fresh Unix stream socketpair.
void SocketPair(UniqueFd* a, UniqueFd* b) {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  a->reset(fds[0]);
  b->reset(fds[1]);
}

// A payload of `size` bytes derived from `seed`.
std::string Payload(size_t size, uint64_t seed) {
  std::string payload(size, '\0');
  uint64_t x = seed * 0x9e3779b97f4a7c15 + 1;
  for (size_t i = 0; i < size; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    payload[i] = static_cast<char>(x & 0xff);
  }
  return payload;
}

// Appends a call frame with id `id` and `payload`.
void AppendCallFrame(uint64_t id, const std::string& payload, FrameBuffer* out) {
  CallFields call;
  call.id = id;
  char* at = AppendCall(call, payload.size(), out);
  if (!payload.empty()) std::memcpy(at, payload.data(), payload.size());
}

// Waits up to `timeout_ms` for `events` on `fd`.
bool PollFor(int fd, short events, int timeout_ms) {
  struct pollfd p = {fd, events, 0};
  return ::poll(&p, 1, timeout_ms) > 0;
}

// Reads from `reader` until `*frames` holds `count` frames or the deadline
// passes, flushing `writer` (if given) whenever it is blocked: the I/O loop of
// one end. Returns the last read status.
absl::Status ReadFrames(FrameSocket& reader, size_t count, std::vector<InFrame>* frames,
                        FrameSocket* writer = nullptr, absl::Duration within = kLongWait) {
  const absl::Time deadline = absl::Now() + within;
  while (frames->size() < count && absl::Now() < deadline) {
    if (writer != nullptr && writer->blocked()) writer->Flush();
    PollFor(reader.fd(), POLLIN, 10);
    absl::Status status = reader.Read(kMaxBody, frames);
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

// Reads until the reader reports an error (EOF) or the deadline passes.
absl::Status ReadUntilError(FrameSocket& reader, std::vector<InFrame>* frames,
                            FrameSocket* writer = nullptr) {
  const absl::Time deadline = absl::Now() + kLongWait;
  while (absl::Now() < deadline) {
    if (writer != nullptr && writer->blocked()) writer->Flush();
    PollFor(reader.fd(), POLLIN, 10);
    absl::Status status = reader.Read(kMaxBody, frames);
    if (!status.ok()) return status;
  }
  return absl::DeadlineExceededError("no error within the deadline");
}

// Writes call frames of `size` bytes of payload until the socket is full:
// returns their ids (the last one is queued, not written).
std::vector<uint64_t> FillUntilBlocked(FrameSocket& writer, size_t size) {
  std::vector<uint64_t> ids;
  for (uint64_t id = 1; id <= 10000; ++id) {
    FrameBuffer frame;
    AppendCallFrame(id, Payload(size, id), &frame);
    const WriteResult result = writer.Write(&frame);
    ids.push_back(id);
    if (result == WriteResult::kBlocked) return ids;
    REQUIRE(result == WriteResult::kDone);
  }
  FAIL("the socket never filled up");
  return ids;
}

// Checks `frames` are the calls `ids` with the payloads FillUntilBlocked() gave them.
void CheckCalls(const std::vector<InFrame>& frames, const std::vector<uint64_t>& ids, size_t size) {
  REQUIRE(frames.size() == ids.size());
  for (size_t i = 0; i < frames.size(); ++i) {
    REQUIRE(frames[i].kind == FrameKind::kCall);
    auto call = ParseCall(frames[i].body());
    REQUIRE_THAT(call.status(), IsOk());
    CHECK(call->id == ids[i]);
    CHECK(call->payload == Payload(size, ids[i]));
  }
}

TEST_CASE("FrameSocket: a frame written at once arrives whole", "[runtime][frame_socket]") {
  UniqueFd a, b;
  SocketPair(&a, &b);
  FrameSocket writer(std::move(a));
  FrameSocket reader(std::move(b));
  FrameBuffer frames;
  AppendCallFrame(1, "hello", &frames);
  AppendCancel(1, &frames);
  CHECK(writer.Write(&frames) == WriteResult::kDone);
  CHECK(frames.empty());  // left empty and reusable

  std::vector<InFrame> read;
  REQUIRE_THAT(ReadFrames(reader, 2, &read), IsOk());
  REQUIRE(read.size() == 2);
  CHECK(read[0].kind == FrameKind::kCall);
  CHECK(ParseCall(read[0].body())->payload == "hello");
  CHECK(read[1].kind == FrameKind::kCancel);
  CHECK(*ParseCancel(read[1].body()) == 1);
  // Nothing more: an empty read is OK, not an error.
  CHECK_THAT(reader.Read(kMaxBody, &read), IsOk());
  CHECK(read.size() == 2);
}

TEST_CASE("FrameSocket: a frame's tail (its payload held as a string) follows its fields",
          "[runtime][frame_socket]") {
  UniqueFd a, b;
  SocketPair(&a, &b);
  FrameSocket writer(std::move(a));
  FrameSocket reader(std::move(b));
  for (size_t size : {size_t{0}, size_t{10}, size_t{300000}}) {
    std::string payload = Payload(size, size);
    FrameBuffer frame;
    CallFields call;
    call.id = size + 1;
    // The header counts the payload; the buffer stops before it: the payload
    // follows from `tail`.
    AppendCall(call, payload.size(), &frame);
    frame.SetSize(frame.size() - payload.size());
    std::vector<InFrame> read;
    const WriteResult result = writer.Write(&frame, &payload);
    CHECK(result != WriteResult::kBroken);
    REQUIRE_THAT(ReadFrames(reader, 1, &read, &writer), IsOk());
    REQUIRE(read.size() == 1);
    auto parsed = ParseCall(read[0].body());
    REQUIRE_THAT(parsed.status(), IsOk());
    CHECK(parsed->id == size + 1);
    CHECK(parsed->payload == Payload(size, size));
  }
}

TEST_CASE("FrameSocket: a frame that arrives a byte at a time is read once, whole",
          "[runtime][frame_socket]") {
  UniqueFd a, b;
  SocketPair(&a, &b);
  FrameSocket reader(std::move(b));
  FrameBuffer frames;
  AppendCallFrame(7, "abc", &frames);
  AppendCallFrame(8, "", &frames);
  std::vector<InFrame> read;
  for (size_t i = 0; i < frames.size(); ++i) {
    REQUIRE(::write(a.get(), frames.data() + i, 1) == 1);
    REQUIRE_THAT(reader.Read(kMaxBody, &read), IsOk());
  }
  REQUIRE(read.size() == 2);
  CHECK(ParseCall(read[0].body())->id == 7);
  CHECK(ParseCall(read[0].body())->payload == "abc");
  CHECK(ParseCall(read[1].body())->id == 8);
}

TEST_CASE("FrameSocket: frames written by several threads arrive whole and in each thread's order",
          "[runtime][frame_socket]") {
  constexpr int kThreads = 4;
  constexpr int kFramesPerThread = 300;
  UniqueFd a, b;
  SocketPair(&a, &b);
  FrameSocket writer(std::move(a));
  FrameSocket reader(std::move(b));
  // Sizes from nothing to more than the socket holds: some writes complete
  // at once, some queue behind another thread's, some find the socket full.
  auto size_of = [](int thread, int seq) -> size_t {
    const int pick = (thread * 7 + seq * 13) % 10;
    return pick < 5 ? size_t(pick) * 10 : pick < 9 ? size_t(pick) * 3000 : size_t(300000);
  };
  std::atomic<int> broken{0};
  std::vector<std::unique_ptr<BoundedThread>> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.push_back(std::make_unique<BoundedThread>([&, t] {
      for (int seq = 0; seq < kFramesPerThread; ++seq) {
        const uint64_t id = uint64_t(t) << 32 | uint64_t(seq + 1);
        FrameBuffer frame;
        AppendCallFrame(id, Payload(size_of(t, seq), id), &frame);
        if (writer.Write(&frame) == WriteResult::kBroken) broken.fetch_add(1);
      }
    }));
  }
  std::vector<InFrame> read;
  const absl::Status status =
      ReadFrames(reader, kThreads * kFramesPerThread, &read, &writer, absl::Seconds(60));
  for (auto& thread : threads) REQUIRE(thread->JoinWithin(kLongWait));
  REQUIRE_THAT(status, IsOk());
  CHECK(broken.load() == 0);
  REQUIRE(read.size() == size_t{kThreads * kFramesPerThread});

  std::vector<int> next(kThreads, 0);
  for (const InFrame& frame : read) {
    REQUIRE(frame.kind == FrameKind::kCall);
    auto call = ParseCall(frame.body());
    REQUIRE_THAT(call.status(), IsOk());
    const int t = static_cast<int>(call->id >> 32);
    const int seq = static_cast<int>(call->id & 0xffffffff) - 1;
    REQUIRE(t < kThreads);
    CHECK(seq == next[t]);  // in the thread's order, none lost
    next[t] = seq + 1;
    CHECK(call->payload == Payload(size_of(t, seq), call->id));  // whole, not interleaved
  }
  CHECK(next == std::vector<int>(kThreads, kFramesPerThread));
  CHECK_FALSE(writer.blocked());
}

TEST_CASE("FrameSocket: a full socket gives kBlocked, and Flush() completes once the reader drains",
          "[runtime][frame_socket]") {
  UniqueFd a, b;
  SocketPair(&a, &b);
  FrameSocket writer(std::move(a));
  FrameSocket reader(std::move(b));
  constexpr size_t kSize = 32 << 10;
  std::vector<uint64_t> ids = FillUntilBlocked(writer, kSize);
  CHECK(writer.blocked());
  // Later frames queue behind, in order, and say so.
  for (int i = 0; i < 3; ++i) {
    const uint64_t id = ids.back() + 1;
    FrameBuffer frame;
    AppendCallFrame(id, Payload(kSize, id), &frame);
    CHECK(writer.Write(&frame) == WriteResult::kBlocked);
    ids.push_back(id);
  }
  // Nobody read: still full.
  CHECK(writer.Flush() == WriteResult::kBlocked);
  CHECK(writer.blocked());

  // The reader drains, the I/O loop flushes whenever it may write, until all
  // is written.
  std::vector<InFrame> read;
  WriteResult flushed = WriteResult::kBlocked;
  const absl::Time deadline = absl::Now() + kLongWait;
  while (flushed != WriteResult::kDone && absl::Now() < deadline) {
    REQUIRE_THAT(reader.Read(kMaxBody, &read), IsOk());
    if (PollFor(writer.fd(), POLLOUT, 10)) flushed = writer.Flush();
    REQUIRE(flushed != WriteResult::kBroken);
  }
  CHECK(flushed == WriteResult::kDone);
  CHECK_FALSE(writer.blocked());
  REQUIRE_THAT(ReadFrames(reader, ids.size(), &read), IsOk());
  CheckCalls(read, ids, kSize);
}

TEST_CASE("FrameSocket: a 16 MiB frame arrives whole", "[runtime][frame_socket]") {
  UniqueFd a, b;
  SocketPair(&a, &b);
  FrameSocket writer(std::move(a));
  FrameSocket reader(std::move(b));
  constexpr size_t kSize = 16 << 20;
  FrameBuffer frames;
  AppendCallFrame(1, Payload(kSize, 1), &frames);
  AppendCallFrame(2, "after", &frames);  // the next frame, in the same write
  CHECK(writer.Write(&frames) == WriteResult::kBlocked);
  std::vector<InFrame> read;
  REQUIRE_THAT(ReadFrames(reader, 2, &read, &writer), IsOk());
  REQUIRE(read.size() == 2);
  auto big = ParseCall(read[0].body());
  REQUIRE_THAT(big.status(), IsOk());
  CHECK(big->id == 1);
  CHECK(big->payload.size() == kSize);
  CHECK(big->payload == Payload(kSize, 1));
  CHECK(ParseCall(read[1].body())->payload == "after");
}

TEST_CASE("FrameSocket: EOF reads as UNAVAILABLE \"connection closed\"",
          "[runtime][frame_socket]") {
  UniqueFd a, b;
  SocketPair(&a, &b);
  FrameSocket reader(std::move(b));
  std::vector<InFrame> read;
  SECTION("between frames") {
    FrameBuffer frame;
    AppendCancel(3, &frame);
    REQUIRE(::write(a.get(), frame.data(), frame.size()) == static_cast<ssize_t>(frame.size()));
    a.reset();
    CHECK_THAT(ReadUntilError(reader, &read),
               StatusIs(absl::StatusCode::kUnavailable, "connection closed"));
    CHECK(read.size() == 1);  // the frame before EOF is delivered
  }
  SECTION("in the middle of a small frame") {
    FrameBuffer frame;
    AppendCancel(3, &frame);
    REQUIRE(::write(a.get(), frame.data(), 11) == 11);
    a.reset();
    CHECK_THAT(ReadUntilError(reader, &read),
               StatusIs(absl::StatusCode::kUnavailable,
                        "connection closed in the middle of a frame (11 bytes of it arrived)"));
    CHECK(read.empty());
  }
  SECTION("in the middle of a large frame") {
    FrameBuffer frame;
    AppendCallFrame(1, Payload(1 << 20, 1), &frame);
    BoundedThread write_half([&] {
      size_t written = 0;
      const size_t half = frame.size() / 2;
      while (written < half) {
        const ssize_t n = ::write(a.get(), frame.data() + written, half - written);
        if (n <= 0) break;
        written += static_cast<size_t>(n);
      }
      a.reset();
    });
    CHECK_THAT(ReadUntilError(reader, &read),
               StatusIs(absl::StatusCode::kUnavailable,
                        "connection closed in the middle of a call frame"));
    REQUIRE(write_half.JoinWithin(kLongWait));
    CHECK(read.empty());
  }
}

TEST_CASE("FrameSocket: writing to a closed peer gives kBroken with EPIPE, and no SIGPIPE",
          "[runtime][frame_socket]") {
  // The default action of SIGPIPE ends the process: this test would die.
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  struct sigaction previous {};
  REQUIRE(::sigaction(SIGPIPE, &default_action, &previous) == 0);

  UniqueFd a, b;
  SocketPair(&a, &b);
  FrameSocket writer(std::move(a));
  b.reset();
  FrameBuffer frame;
  AppendCancel(1, &frame);
  CHECK(writer.Write(&frame) == WriteResult::kBroken);
  const absl::Status error = writer.error();
  CHECK_FALSE(error.ok());
  CHECK_THAT(std::string(error.message()), Catch::Contains("write to the worker connection") &&
                                               Catch::Contains(std::strerror(EPIPE)));
  // Broken for good: later writes and flushes say so at once.
  FrameBuffer again;
  AppendCancel(2, &again);
  CHECK(writer.Write(&again) == WriteResult::kBroken);
  CHECK(writer.Flush() == WriteResult::kBroken);
  CHECK_FALSE(writer.blocked());

  REQUIRE(::sigaction(SIGPIPE, &previous, nullptr) == 0);
}

TEST_CASE("FrameSocket: a peer that closes while frames are queued breaks the flush",
          "[runtime][frame_socket]") {
  struct sigaction default_action {};
  default_action.sa_handler = SIG_DFL;
  struct sigaction previous {};
  REQUIRE(::sigaction(SIGPIPE, &default_action, &previous) == 0);

  UniqueFd a, b;
  SocketPair(&a, &b);
  FrameSocket writer(std::move(a));
  FillUntilBlocked(writer, 32 << 10);
  b.reset();  // unread data: the kernel may say ECONNRESET rather than EPIPE
  CHECK(writer.Flush() == WriteResult::kBroken);
  CHECK_FALSE(writer.error().ok());
  CHECK_THAT(std::string(writer.error().message()),
             Catch::Contains("write to the worker connection"));
  CHECK_FALSE(writer.blocked());

  REQUIRE(::sigaction(SIGPIPE, &previous, nullptr) == 0);
}

TEST_CASE("FrameSocket: CloseWrites delivers the queued frames, then EOF",
          "[runtime][frame_socket]") {
  UniqueFd a, b;
  SocketPair(&a, &b);
  FrameSocket writer(std::move(a));
  FrameSocket reader(std::move(b));
  std::vector<InFrame> read;
  SECTION("with nothing queued: EOF at once") {
    FrameBuffer frame;
    AppendCancel(5, &frame);
    REQUIRE(writer.Write(&frame) == WriteResult::kDone);
    writer.CloseWrites();
    CHECK_THAT(ReadUntilError(reader, &read),
               StatusIs(absl::StatusCode::kUnavailable, "connection closed"));
    REQUIRE(read.size() == 1);
    CHECK(*ParseCancel(read[0].body()) == 5);
  }
  SECTION("with frames queued behind a full socket") {
    constexpr size_t kSize = 32 << 10;
    const std::vector<uint64_t> ids = FillUntilBlocked(writer, kSize);
    writer.CloseWrites();
    // No frame is accepted after CloseWrites().
    FrameBuffer late;
    AppendCancel(99, &late);
    CHECK(writer.Write(&late) == WriteResult::kBroken);
    CHECK_THAT(ReadUntilError(reader, &read, &writer),
               StatusIs(absl::StatusCode::kUnavailable, "connection closed"));
    CheckCalls(read, ids, kSize);
    CHECK_THAT(writer.error(), IsOk());  // closing is not breaking
  }
}

TEST_CASE("FrameSocket: a malformed header reads as INVALID_ARGUMENT naming it",
          "[runtime][frame_socket]") {
  UniqueFd a, b;
  SocketPair(&a, &b);
  FrameSocket reader(std::move(b));
  std::vector<InFrame> read;
  SECTION("an unknown kind") {
    const char header[8] = {0, 0, 0, 0, 0x42, 0, 0, 0};
    REQUIRE(::write(a.get(), header, 8) == 8);
    CHECK_THAT(ReadUntilError(reader, &read),
               StatusIs(absl::StatusCode::kInvalidArgument,
                        "malformed frame header: unknown frame kind 66"));
  }
  SECTION("reserved bytes set") {
    const char header[8] = {0, 0, 0, 0, 0x03, 0, 1, 0};
    REQUIRE(::write(a.get(), header, 8) == 8);
    CHECK_THAT(ReadUntilError(reader, &read),
               StatusIs(absl::StatusCode::kInvalidArgument,
                        "the reserved bytes of a cancel frame are not zero"));
  }
  SECTION("a body over the reader's limit") {
    FrameBuffer frame;
    AppendCallFrame(1, std::string(100, 'x'), &frame);
    REQUIRE(::write(a.get(), frame.data(), frame.size()) == static_cast<ssize_t>(frame.size()));
    REQUIRE(PollFor(reader.fd(), POLLIN, 10000));
    CHECK_THAT(reader.Read(64, &read),
               StatusIs(absl::StatusCode::kInvalidArgument, "is over the limit of 64"));
  }
  SECTION("after good frames, which are delivered first") {
    FrameBuffer frames;
    AppendCancel(1, &frames);
    const char bad[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::memcpy(frames.Extend(8), bad, 8);
    REQUIRE(::write(a.get(), frames.data(), frames.size()) == static_cast<ssize_t>(frames.size()));
    CHECK_THAT(ReadUntilError(reader, &read),
               StatusIs(absl::StatusCode::kInvalidArgument, "unknown frame kind 0"));
    CHECK(read.size() == 1);
  }
}

}  // namespace
