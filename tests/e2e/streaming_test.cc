// Streaming methods (runtime/stream.h, docs/streaming.md) end to end: the
// three kinds through real worker processes, on the carrier under test
// (iw_carrier_test: the native carrier and gRPC), with what can go wrong
// mid-stream: handler errors, crashes, cancellation, deadlines, a reader
// that does not read, messages over the size limit, the host going away.
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "catch2/catch.hpp"
#include "runtime/worker_crash.h"
#include "tests/e2e/e2e_util.h"

namespace {

using iw::testing::IsOk;
using iw::testing::kSanitizerSlowdown;
using iw::testing::NoChildProcesses;
using iw::testing::SpawnOrDie;
using iw::testing::StatusIs;
using iw::testing::TestWorkerOptions;

// Bounds the failure case only.
absl::Duration LongWait() { return absl::Seconds(30) * kSanitizerSlowdown; }

std::string TempPath(absl::string_view name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = absl::StrCat(dir != nullptr ? dir : "/tmp", "/streaming_", ::getpid(), "_",
                                  name, "_", absl::ToUnixNanos(absl::Now()));
  ::unlink(path.c_str());
  return path;
}

bool WaitForFile(const std::string& path, absl::Duration timeout) {
  const absl::Time end = absl::Now() + timeout;
  while (absl::Now() < end) {
    if (::access(path.c_str(), F_OK) == 0) return true;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return false;
}

iwtest::CountRequest Count(int count, absl::string_view text = "n") {
  iwtest::CountRequest request;
  request.set_text(std::string(text));
  request.set_count(count);
  return request;
}

TEST_CASE("A server stream delivers every response in order, then OK", "[e2e][stream]") {
  {
    auto host = SpawnOrDie();
    iw::ResponseStream<iwtest::CountReply> stream = host->Count(Count(20, "tick"));
    int expected = 0;
    for (const iwtest::CountReply& reply : stream) {
      CHECK(reply.index() == expected);
      CHECK(reply.text() == absl::StrCat("tick #", expected));
      ++expected;
    }
    CHECK(expected == 20);
    CHECK_THAT(stream.Finish(), IsOk());
    CHECK(stream.messages_read() == 20);
    CHECK(host->stats().calls_completed == 1);
    CHECK_THAT(host->Close(), IsOk());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE(
    "An async server stream runs the message callback per response in order, then the done "
    "callback exactly once",
    "[e2e][stream]") {
  {
    auto host = SpawnOrDie();
    absl::Mutex mu;
    std::vector<int> seen;
    int done_calls = 0;
    absl::Status final_status = absl::UnknownError("not done");
    absl::Notification done;
    host->CountAsync(
        Count(10),
        [&](iwtest::CountReply reply) {
          absl::MutexLock lock(&mu);
          seen.push_back(reply.index());
        },
        [&](absl::Status status) {
          {
            absl::MutexLock lock(&mu);
            ++done_calls;
            final_status = status;
          }
          done.Notify();
        });
    REQUIRE(done.WaitForNotificationWithTimeout(LongWait()));
    absl::MutexLock lock(&mu);
    CHECK_THAT(final_status, IsOk());
    CHECK(seen == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
    CHECK(done_calls == 1);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Cancelling an async server stream ends it with CANCELLED once", "[e2e][stream]") {
  {
    auto host = SpawnOrDie();
    iwtest::CountRequest request;
    request.set_until_cancelled(true);
    request.set_interval_ms(5);
    std::atomic<int> messages{0};
    std::atomic<int> done_calls{0};
    absl::Notification done;
    absl::Status final_status;
    iw::CallHandle handle = host->CountAsync(
        request, [&](iwtest::CountReply) { ++messages; },
        [&](absl::Status status) {
          final_status = status;
          ++done_calls;
          done.Notify();
        });
    const absl::Time end = absl::Now() + LongWait();
    while (messages.load() < 3 && absl::Now() < end) absl::SleepFor(absl::Milliseconds(2));
    handle.Cancel();
    REQUIRE(done.WaitForNotificationWithTimeout(LongWait()));
    CHECK_THAT(final_status, StatusIs(absl::StatusCode::kCancelled, "cancelled by the host"));
    CHECK(done_calls.load() == 1);
    // The worker serves on.
    CHECK_THAT(host->Echo(iwtest::EchoRequest()).status(), IsOk());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("A client stream sends every request and gets the one response", "[e2e][stream]") {
  {
    auto host = SpawnOrDie();
    iw::RequestStream<iwtest::Chunk, iwtest::SumReply> upload = host->Sum();
    int64_t bytes = 0;
    for (int i = 0; i < 50; ++i) {
      iwtest::Chunk chunk;
      chunk.set_data(std::string(static_cast<size_t>(i * 100), 'x'));
      bytes += i * 100;
      REQUIRE(upload.Write(chunk));
    }
    absl::StatusOr<iwtest::SumReply> sum = upload.Finish();
    REQUIRE_THAT(sum.status(), IsOk());
    CHECK(sum->chunks() == 50);
    CHECK(sum->bytes() == bytes);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("A client stream's handler error reaches the host; later writes return false",
          "[e2e][stream]") {
  {
    auto host = SpawnOrDie();
    iw::RequestStream<iwtest::Chunk, iwtest::SumReply> upload = host->Sum();
    iwtest::Chunk good;
    good.set_data("ok");
    REQUIRE(upload.Write(good));
    iwtest::Chunk bad;
    bad.set_fail(true);
    REQUIRE(upload.Write(bad));
    // The handler has failed the stream; a write soon returns false.
    const absl::Time end = absl::Now() + LongWait();
    while (upload.Write(good) && absl::Now() < end) absl::SleepFor(absl::Milliseconds(1));
    CHECK_THAT(upload.Finish().status(),
               StatusIs(absl::StatusCode::kInvalidArgument, "chunk 1 is bad"));
    CHECK_THAT(host->Echo(iwtest::EchoRequest()).status(), IsOk());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("A bidi stream answers each request as it comes, and ends after the half-close",
          "[e2e][stream]") {
  {
    auto host = SpawnOrDie();
    iw::BidiStream<iwtest::ChatLine, iwtest::ChatLine> chat = host->Chat();
    for (int i = 0; i < 30; ++i) {
      iwtest::ChatLine line;
      line.set_text(absl::StrCat("line ", i));
      line.set_seq(i);
      REQUIRE(chat.Write(line));
      iwtest::ChatLine answer;
      // Interleaved: the answer to each line before the next is sent.
      REQUIRE(chat.Next(&answer));
      CHECK(answer.seq() == i);
      CHECK(answer.text() == absl::StrCat("LINE ", i));
    }
    chat.CloseWrites();
    iwtest::ChatLine extra;
    CHECK_FALSE(chat.Next(&extra));
    CHECK_THAT(chat.Finish(), IsOk());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("A bidi stream can be written by one thread while another reads", "[e2e][stream]") {
  {
    auto host = SpawnOrDie();
    iw::BidiStream<iwtest::ChatLine, iwtest::ChatLine> chat = host->Chat();
    constexpr int kLines = 200;
    std::thread writer([&] {
      for (int i = 0; i < kLines; ++i) {
        iwtest::ChatLine line;
        line.set_text("x");
        line.set_seq(i);
        if (!chat.Write(line)) break;
      }
      chat.CloseWrites();
    });
    int read = 0;
    for (const iwtest::ChatLine& answer : chat) {
      CHECK(answer.seq() == read);
      ++read;
    }
    writer.join();
    CHECK(read == kLines);
    CHECK_THAT(chat.Finish(), IsOk());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("A handler that fails after writing some responses: the host reads them, then the error",
          "[e2e][stream]") {
  {
    auto host = SpawnOrDie();
    iwtest::CountRequest request = Count(100);
    request.set_fail_after(3);
    request.set_fail_code(static_cast<int>(absl::StatusCode::kFailedPrecondition));
    iw::ResponseStream<iwtest::CountReply> stream = host->Count(request);
    int read = 0;
    for (const iwtest::CountReply& reply : stream) {
      CHECK(reply.index() == read);
      ++read;
    }
    CHECK(read == 3);
    CHECK_THAT(stream.Finish(), StatusIs(absl::StatusCode::kFailedPrecondition, "failed after 3"));
    CHECK(host->stats().calls_failed == 1);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE(
    "A worker that crashes mid-stream ends the stream with the crash report and how many "
    "responses were delivered; the replacement serves",
    "[e2e][stream]") {
  {
    auto host = SpawnOrDie();
    const int pid = host->pid();
    iwtest::CountRequest request = Count(100);
    request.set_crash_after(2);
    request.set_interval_ms(20);
    iw::ResponseStream<iwtest::CountReply> stream = host->Count(request);
    int read = 0;
    for (const iwtest::CountReply& reply : stream) {
      (void)reply;
      ++read;
    }
    CHECK(read == 2);
    absl::Status status = stream.Finish();
    CHECK_THAT(status, StatusIs(absl::StatusCode::kUnavailable, "crashed: exit code 3"));
    CHECK_THAT(status, StatusIs(absl::StatusCode::kUnavailable,
                                "after 2 responses of the stream were delivered"));
    std::optional<iw::WorkerCrash> crash = iw::WorkerCrashOf(status);
    REQUIRE(crash.has_value());
    CHECK(crash->exit_code() == 3);
    CHECK(crash->pid() == pid);
    CHECK(crash->method() == "iwtest.TestService.Count");
    CHECK_THAT(host->Echo(iwtest::EchoRequest()).status(), IsOk());
    CHECK(host->pid() != pid);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE(
    "Under CRASH_RETRY a server stream whose worker died before its first response runs again "
    "on a fresh worker",
    "[e2e][stream]") {
  const std::string marker = TempPath("crash_once");
  {
    iwtest::TestServiceMethodConfig methods;
    methods.count.on_crash = iw::CrashPolicy::kRetry;
    methods.count.max_attempts = 2;
    auto host = SpawnOrDie(TestWorkerOptions(), methods);
    const int pid = host->pid();
    iwtest::CountRequest request = Count(3);
    request.set_crash_once_marker(marker);
    iw::ResponseStream<iwtest::CountReply> stream = host->Count(request);
    int read = 0;
    for (const iwtest::CountReply& reply : stream) {
      CHECK(reply.index() == read);
      ++read;
    }
    CHECK(read == 3);
    CHECK_THAT(stream.Finish(), IsOk());
    CHECK(host->pid() != pid);
    CHECK(host->stats().workers_crashed == 1);
  }
  CHECK(NoChildProcesses());
  ::unlink(marker.c_str());
}

TEST_CASE("Cancelling a stream reaches the handler at once; the worker serves on",
          "[e2e][stream]") {
  const std::string marker = TempPath("cancelled");
  {
    auto host = SpawnOrDie();
    iwtest::CountRequest request;
    request.set_until_cancelled(true);
    request.set_interval_ms(10);
    request.set_cancelled_marker(marker);
    iw::ResponseStream<iwtest::CountReply> stream = host->Count(request);
    iwtest::CountReply reply;
    REQUIRE(stream.Next(&reply));
    REQUIRE(stream.Next(&reply));
    stream.Cancel();
    CHECK_FALSE(stream.Next(&reply));
    CHECK_THAT(stream.Finish(), StatusIs(absl::StatusCode::kCancelled, "cancelled by the host"));
    // The handler saw its Write() fail and returned.
    CHECK(WaitForFile(marker, LongWait()));
    CHECK_THAT(host->Echo(iwtest::EchoRequest()).status(), IsOk());
  }
  CHECK(NoChildProcesses());
  ::unlink(marker.c_str());
}

TEST_CASE("Destroying an unfinished stream cancels it", "[e2e][stream]") {
  const std::string marker = TempPath("dropped");
  {
    auto host = SpawnOrDie();
    {
      iwtest::CountRequest request;
      request.set_until_cancelled(true);
      request.set_interval_ms(10);
      request.set_cancelled_marker(marker);
      iw::ResponseStream<iwtest::CountReply> stream = host->Count(request);
      iwtest::CountReply reply;
      REQUIRE(stream.Next(&reply));
    }
    CHECK(WaitForFile(marker, LongWait()));
    CHECK(host->stats().calls_in_flight == 0);
  }
  CHECK(NoChildProcesses());
  ::unlink(marker.c_str());
}

TEST_CASE("The timeout bounds the whole stream, not each message", "[e2e][stream]") {
  {
    auto host = SpawnOrDie();
    iwtest::CountRequest request;
    request.set_until_cancelled(true);
    request.set_interval_ms(20);
    iw::CallOptions options;
    options.timeout = absl::Milliseconds(400) * kSanitizerSlowdown;
    const absl::Time start = absl::Now();
    iw::ResponseStream<iwtest::CountReply> stream = host->Count(request, options);
    int read = 0;
    for (const iwtest::CountReply& reply : stream) {
      (void)reply;
      ++read;
    }
    CHECK(read > 0);
    CHECK_THAT(stream.Finish(), StatusIs(absl::StatusCode::kDeadlineExceeded, "Count"));
    CHECK(absl::Now() - start < LongWait());
    CHECK_THAT(host->Echo(iwtest::EchoRequest()).status(), IsOk());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE(
    "A reader that never reads holds the worker's writer back until the deadline ends the "
    "stream",
    "[e2e][stream]") {
  {
    auto host = SpawnOrDie();
    iwtest::CountRequest request = Count(1000000);
    request.set_payload_bytes(1024);
    iw::CallOptions options;
    options.timeout = absl::Milliseconds(500) * kSanitizerSlowdown;
    iw::ResponseStream<iwtest::CountReply> stream = host->Count(request, options);
    // Not one Next(): the worker may send a window of responses, then waits.
    CHECK_THAT(stream.Finish(), StatusIs(absl::StatusCode::kDeadlineExceeded));
    CHECK(stream.messages_read() == 0);
    CHECK_THAT(host->Echo(iwtest::EchoRequest()).status(), IsOk());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("A response over the size limit mid-stream ends the stream with RESOURCE_EXHAUSTED",
          "[e2e][stream]") {
  {
    iw::WorkerOptions options = TestWorkerOptions();
    options.max_response_bytes = 4096;
    auto host = SpawnOrDie(options);
    iwtest::CountRequest request = Count(5);
    request.set_payload_bytes(8192);
    iw::ResponseStream<iwtest::CountReply> stream = host->Count(request);
    iwtest::CountReply reply;
    CHECK_FALSE(stream.Next(&reply));
    CHECK_THAT(stream.Finish(), StatusIs(absl::StatusCode::kResourceExhausted, "Count"));
    CHECK_THAT(host->Echo(iwtest::EchoRequest()).status(), IsOk());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE(
    "A request over the size limit mid-stream is not sent; the stream ends with "
    "RESOURCE_EXHAUSTED",
    "[e2e][stream]") {
  {
    iw::WorkerOptions options = TestWorkerOptions();
    options.max_request_bytes = 4096;
    auto host = SpawnOrDie(options);
    iw::RequestStream<iwtest::Chunk, iwtest::SumReply> upload = host->Sum();
    iwtest::Chunk small;
    small.set_data("ok");
    REQUIRE(upload.Write(small));
    iwtest::Chunk large;
    large.set_data(std::string(8192, 'x'));
    CHECK_FALSE(upload.Write(large));
    CHECK_THAT(upload.Finish().status(),
               StatusIs(absl::StatusCode::kResourceExhausted, "request is over"));
    CHECK_THAT(host->Echo(iwtest::EchoRequest()).status(), IsOk());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Unary calls to the same worker are served while a stream is open", "[e2e][stream]") {
  {
    auto host = SpawnOrDie();
    iwtest::CountRequest request;
    request.set_until_cancelled(true);
    request.set_interval_ms(5);
    iw::ResponseStream<iwtest::CountReply> stream = host->Count(request);
    iwtest::CountReply reply;
    REQUIRE(stream.Next(&reply));
    for (int i = 0; i < 20; ++i) {
      iwtest::EchoRequest echo;
      echo.set_text(absl::StrCat("call ", i));
      absl::StatusOr<iwtest::EchoReply> answer = host->Echo(echo);
      REQUIRE_THAT(answer.status(), IsOk());
      CHECK(answer->text() == echo.text());
      REQUIRE(stream.Next(&reply));
    }
    stream.Cancel();
    CHECK_THAT(stream.Finish(), StatusIs(absl::StatusCode::kCancelled));
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("A stream holds its pool worker: it counts towards the worker's call limit",
          "[e2e][stream]") {
  {
    iw::PoolOptions pool;
    pool.min_workers = 1;
    pool.max_workers = 1;
    pool.max_calls_per_worker = 1;
    auto host = iwtest::TestServiceHost::SpawnPool(TestWorkerOptions(), pool);
    REQUIRE_THAT(host.status(), IsOk());
    iwtest::CountRequest request;
    request.set_until_cancelled(true);
    request.set_interval_ms(5);
    iw::ResponseStream<iwtest::CountReply> stream = (*host)->Count(request);
    iwtest::CountReply reply;
    REQUIRE(stream.Next(&reply));
    iw::CallOptions quick;
    quick.timeout = absl::Milliseconds(200);
    CHECK_THAT((*host)->Echo(iwtest::EchoRequest(), quick).status(),
               StatusIs(absl::StatusCode::kDeadlineExceeded, "waiting for a free worker"));
    stream.Cancel();
    CHECK_THAT(stream.Finish(), StatusIs(absl::StatusCode::kCancelled));
    CHECK_THAT((*host)->Echo(iwtest::EchoRequest()).status(), IsOk());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Closing the host ends its open streams; nothing hangs", "[e2e][stream]") {
  {
    auto host = SpawnOrDie();
    iwtest::CountRequest request;
    request.set_until_cancelled(true);
    request.set_interval_ms(5);
    iw::ResponseStream<iwtest::CountReply> stream = host->Count(request);
    iwtest::CountReply reply;
    REQUIRE(stream.Next(&reply));
    std::atomic<bool> reader_done{false};
    std::thread reader([&] {
      iwtest::CountReply next;
      while (stream.Next(&next)) {
      }
      reader_done = true;
    });
    iw::CloseOptions close;
    close.grace = absl::Milliseconds(100);
    close.term_timeout = absl::Seconds(1);
    host->Close(close).IgnoreError();
    reader.join();
    CHECK(reader_done.load());
    CHECK_FALSE(stream.Finish().ok());
    host.reset();
  }
  CHECK(NoChildProcesses());
}

}  // namespace
