// The host of the ping example: spawns the worker, calls it a few ways, and
// prints what happened.
//
//   tools/bazel run //examples/ping:ping_host
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "examples/ping/ping.iw.h"
#include "runtime/paths.h"

namespace {

double Ms(absl::Duration d) { return absl::ToDoubleMilliseconds(d); }

}  // namespace

int main(int argc, char** argv) {
  iw::WorkerOptions options;
  options.executable = argc > 1 ? argv[1] : iw::SiblingExecutable("ping_worker");

  absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<ping::v1::PingerHost>> spawned =
      ping::v1::PingerHost::Spawn(options);
  if (!spawned.ok()) {
    std::fprintf(stderr, "spawn failed: %s\n", spawned.status().ToString().c_str());
    return 1;
  }
  ping::v1::PingerHost& host = **spawned;
  std::printf("spawned worker %s in %.1f ms\n", host.worker_id().c_str(), Ms(absl::Now() - start));
  // A spawned worker speaks the native carrier on its private socketpair
  // (WorkerOptions::transport, kNative by default; kGrpc for gRPC there
  // too). Every call multiplexes over that one connection.
  std::printf("native carrier: %d of %d workers\n", host.stats().workers_native,
              host.stats().workers);

  // 1. One typed call.
  ping::v1::PingRequest ping;
  ping.set_message("hello");
  start = absl::Now();
  absl::StatusOr<ping::v1::PingReply> pong = host.Ping(ping);
  if (!pong.ok()) {
    std::fprintf(stderr, "ping failed: %s\n", pong.status().ToString().c_str());
    return 1;
  }
  std::printf("ping \"%s\" -> \"%s\" from pid %d (host pid %d) in %.0f us\n",
              ping.message().c_str(), pong->message().c_str(), pong->worker_pid(), ::getpid(),
              absl::ToDoubleMicroseconds(absl::Now() - start));

  // 2. A megabyte there and back.
  ping::v1::EchoRequest echo;
  echo.set_data(std::string(1 << 20, 'x'));
  start = absl::Now();
  absl::StatusOr<ping::v1::EchoReply> echoed = host.Echo(echo);
  std::printf("echo 1 MiB -> %s in %.1f ms\n",
              echoed.ok() && echoed->data() == echo.data() ? "1048576 bytes back intact" : "FAILED",
              Ms(absl::Now() - start));

  // 3. Many calls in flight at once.
  constexpr int kCalls = 1000;
  absl::Mutex mu;
  int done = 0, correct = 0;
  start = absl::Now();
  for (int i = 0; i < kCalls; ++i) {
    ping::v1::PingRequest request;
    request.set_message(absl::StrCat("#", i));
    host.PingAsync(request, [&, i](absl::StatusOr<ping::v1::PingReply> reply) {
      absl::MutexLock lock(&mu);
      ++done;
      if (reply.ok() && reply->message() == absl::StrCat("pong: #", i)) ++correct;
    });
  }
  {
    absl::MutexLock lock(&mu);
    auto all_done = [&] { return done == kCalls; };
    mu.AwaitWithTimeout(absl::Condition(&all_done), absl::Seconds(30));
  }
  absl::Duration took = absl::Now() - start;
  std::printf("%d concurrent pings: %d answered correctly in %.1f ms (%.0f calls/s)\n", kCalls,
              correct, Ms(took), kCalls / absl::ToDoubleSeconds(took));

  // 4. A deadline: 200 ms of work with a 20 ms timeout.
  ping::v1::WorkRequest work;
  work.set_ms(200);
  iw::CallOptions quick;
  quick.timeout = absl::Milliseconds(20);
  absl::Status late = host.Work(work, quick).status();
  std::printf("200 ms of work with a 20 ms timeout -> %s\n", late.ToString().c_str());

  // 5. Close: the worker drains and exits; nothing is left behind.
  absl::Status closed = host.Close();
  std::printf("closed worker: %s (state %s)\n", closed.ToString().c_str(),
              iw::WorkerStateName(host.state()));
  return correct == kCalls && closed.ok() ? 0 : 1;
}
