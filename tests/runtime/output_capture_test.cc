// OutputCapture: reads a worker's output stream from a pipe, forwards or logs
// it per OutputMode, and keeps a bounded tail of its last lines.
//
// The test plays the child: it keeps a duplicate of child_fd() (the child's
// copy) before Start() closes the original, writes to it, and closes it to
// end the stream.
#include "runtime/host/output_capture.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "catch2/catch.hpp"
#include "runtime/logging.h"
#include "runtime/options.h"
#include "runtime/process/unique_fd.h"
#include "tests/runtime/bounded_waits.h"

namespace {

using iw::OutputMode;
using iw::internal::OutputCapture;
using iw::internal::UniqueFd;
using iw::testing::BoundedThread;
using iw::testing::kLongWait;

// An OutputCapture started with a child's end of its pipe held by the test.
struct Started {
  std::unique_ptr<OutputCapture> capture;
  UniqueFd child;  // the "child's" write end

  void Write(const std::string& bytes) {
    REQUIRE(::write(child.get(), bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  }
  // Ends the stream and returns the tail once the capture has read it all.
  std::string EndAndTail() {
    child.reset();
    return capture->Tail(absl::Now() + kLongWait);
  }
};

Started Start(OutputMode mode, int forward_fd) {
  auto capture = OutputCapture::Create(mode, forward_fd);
  REQUIRE(capture.ok());
  UniqueFd child(::fcntl((*capture)->child_fd(), F_DUPFD_CLOEXEC, 0));
  REQUIRE(child.valid());
  (*capture)->Start("w1");
  return Started{std::move(*capture), std::move(child)};
}

// A pipe standing in for the host's own stdout/stderr.
struct ForwardPipe {
  UniqueFd read_end;
  UniqueFd write_end;

  ForwardPipe() {
    int fds[2];
    REQUIRE(::pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0);
    read_end.reset(fds[0]);
    write_end.reset(fds[1]);
  }
  // Everything forwarded so far (the capture has finished writing once its
  // stream ended and Tail() returned).
  std::string Drain() {
    std::string bytes;
    char buffer[4096];
    ssize_t n;
    while ((n = ::read(read_end.get(), buffer, sizeof(buffer))) > 0) bytes.append(buffer, n);
    return bytes;
  }
};

// Collects the log records of the capture while in scope.
class LogCollector {
 public:
  LogCollector() {
    iw::SetLogSink(
        [this](const iw::LogRecord& record) {
          absl::MutexLock lock(&mu_);
          records_.push_back(record);
        },
        iw::LogLevel::kDebug);
  }
  ~LogCollector() { iw::SetLogSink(nullptr); }
  std::vector<std::string> Lines() {
    absl::MutexLock lock(&mu_);
    std::vector<std::string> lines;
    for (const iw::LogRecord& record : records_) {
      lines.push_back(absl::StrCat(iw::LogLevelName(record.level), " [", record.worker_id, "] ",
                                   record.message));
    }
    return lines;
  }

 private:
  absl::Mutex mu_;
  std::vector<iw::LogRecord> records_;
};

std::string Lines(int from, int to) {
  std::vector<std::string> lines;
  for (int i = from; i < to; ++i) lines.push_back(absl::StrCat("line ", i));
  return absl::StrJoin(lines, "\n");
}

TEST_CASE("OutputCapture: the tail holds the last lines, in order", "[runtime][output_capture]") {
  Started started = Start(OutputMode::kDiscard, STDERR_FILENO);
  const int total = OutputCapture::kTailLines + 5;
  for (int i = 0; i < total; ++i) started.Write(absl::StrCat("line ", i, "\n"));
  CHECK(started.EndAndTail() == Lines(total - OutputCapture::kTailLines, total));
}

TEST_CASE("OutputCapture: lines split across writes are joined", "[runtime][output_capture]") {
  Started started = Start(OutputMode::kDiscard, STDERR_FILENO);
  started.Write("hel");
  started.Write("lo\nwor");
  started.Write("ld\n");
  CHECK(started.EndAndTail() == "hello\nworld");
}

TEST_CASE("OutputCapture: a last line without a newline is kept when the stream ends",
          "[runtime][output_capture]") {
  Started started = Start(OutputMode::kDiscard, STDERR_FILENO);
  started.Write("complete\npartial");
  CHECK(started.EndAndTail() == "complete\npartial");
}

TEST_CASE("OutputCapture: a silent stream has an empty tail", "[runtime][output_capture]") {
  Started started = Start(OutputMode::kDiscard, STDERR_FILENO);
  CHECK(started.EndAndTail().empty());
}

TEST_CASE("OutputCapture: a line longer than the byte bound keeps only its end",
          "[runtime][output_capture]") {
  Started started = Start(OutputMode::kDiscard, STDERR_FILENO);
  const std::string line = std::string(3 * OutputCapture::kTailBytes, 'x') + "END";
  started.Write(line + "\n");
  const std::string tail = started.EndAndTail();
  CHECK(tail.size() == OutputCapture::kTailBytes);
  CHECK(tail == line.substr(line.size() - OutputCapture::kTailBytes));
}

TEST_CASE("OutputCapture: the whole tail stays within the byte bound, keeping the newest bytes",
          "[runtime][output_capture]") {
  Started started = Start(OutputMode::kDiscard, STDERR_FILENO);
  std::string all;
  for (int i = 0; i < OutputCapture::kTailLines; ++i) {
    const std::string line = absl::StrCat(i, ":", std::string(500, 'a' + i));
    started.Write(line + "\n");
    all += (i == 0 ? "" : "\n") + line;
  }
  const std::string tail = started.EndAndTail();
  CHECK(tail.size() == OutputCapture::kTailBytes);
  CHECK(tail == all.substr(all.size() - OutputCapture::kTailBytes));
}

TEST_CASE("OutputCapture: Tail returns at its deadline while a writer keeps the stream open",
          "[runtime][output_capture]") {
  Started started = Start(OutputMode::kDiscard, STDERR_FILENO);
  started.Write("still running\n");
  const absl::Time start = absl::Now();
  const absl::Duration wait = absl::Milliseconds(100);
  std::string tail;
  BoundedThread tail_thread([&] { tail = started.capture->Tail(start + wait); });
  REQUIRE(tail_thread.JoinWithin(kLongWait));
  CHECK(absl::Now() - start >= wait / 2);  // it waited, rather than returning at once
  // Once ended, the line is there.
  CHECK(started.EndAndTail() == "still running");
}

TEST_CASE("OutputCapture: kInherit copies the bytes unchanged to the forward descriptor",
          "[runtime][output_capture]") {
  ForwardPipe forward;
  Started started = Start(OutputMode::kInherit, forward.write_end.get());
  started.Write("one\ntwo");
  started.Write("\nthree");
  CHECK(started.EndAndTail() == "one\ntwo\nthree");
  CHECK(forward.Drain() == "one\ntwo\nthree");
}

TEST_CASE("OutputCapture: kDiscard neither forwards nor logs, but keeps the tail",
          "[runtime][output_capture]") {
  ForwardPipe forward;
  LogCollector log;
  Started started = Start(OutputMode::kDiscard, forward.write_end.get());
  started.Write("dropped\n");
  CHECK(started.EndAndTail() == "dropped");
  CHECK(forward.Drain().empty());
  CHECK(log.Lines().empty());
}

TEST_CASE("OutputCapture: kCapture logs each line at info level, tagged with worker and stream",
          "[runtime][output_capture]") {
  LogCollector log;
  SECTION("stderr") {
    Started started = Start(OutputMode::kCapture, STDERR_FILENO);
    started.Write("first\nsecond\nlast");
    CHECK(started.EndAndTail() == "first\nsecond\nlast");
    CHECK(log.Lines() == std::vector<std::string>{"info [w1] stderr: first",
                                                  "info [w1] stderr: second",
                                                  "info [w1] stderr: last"});
  }
  SECTION("stdout") {
    Started started = Start(OutputMode::kCapture, STDOUT_FILENO);
    started.Write("result\n");
    CHECK(started.EndAndTail() == "result");
    CHECK(log.Lines() == std::vector<std::string>{"info [w1] stdout: result"});
  }
}

TEST_CASE("OutputCapture: destruction returns while a grandchild still holds the stream open",
          "[runtime][output_capture]") {
  Started started = Start(OutputMode::kDiscard, STDERR_FILENO);
  started.Write("orphaned\n");
  BoundedThread destroy([&] { started.capture.reset(); });
  CHECK(destroy.JoinWithin(kLongWait));
}

TEST_CASE("OutputCapture: destruction returns while a grandchild keeps writing",
          "[runtime][output_capture]") {
  // Once the capture is gone, the writer's writes fail with EPIPE instead of
  // killing the test with SIGPIPE.
  struct sigaction ignore = {}, old = {};
  ignore.sa_handler = SIG_IGN;
  REQUIRE(::sigaction(SIGPIPE, &ignore, &old) == 0);

  Started started = Start(OutputMode::kDiscard, STDERR_FILENO);
  std::atomic<bool> stop{false};
  BoundedThread writer([&] {
    const std::string chunk(64 * 1024, 'z');
    while (!stop && ::write(started.child.get(), chunk.data(), chunk.size()) > 0) {
    }
  });
  BoundedThread destroy([&] { started.capture.reset(); });
  CHECK(destroy.FinishedWithin(absl::Seconds(5)));
  stop = true;
  REQUIRE(writer.JoinWithin(kLongWait));
  REQUIRE(destroy.JoinWithin(kLongWait));
  ::sigaction(SIGPIPE, &old, nullptr);
}

}  // namespace
