// The host of the in-process example: the same host code runs twice, once
// against a spawned worker process and once against the handler served in
// this process. Only the line that creates the host differs.
//
//   tools/bazel run //examples/inprocess:greeter_host
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "examples/inprocess/greeter_handler.h"
#include "runtime/paths.h"

namespace {

using greeter::v1::GreeterHost;

// The host code: knows nothing about where the handler runs.
int Demo(const char* mode, GreeterHost& host) {
  std::printf("[%s] worker %s, host pid %d\n", mode, host.worker_id().c_str(), ::getpid());

  greeter::v1::GreetRequest request;
  request.set_name("world");
  absl::StatusOr<greeter::v1::GreetReply> reply = host.Greet(request);
  if (!reply.ok()) {
    std::fprintf(stderr, "[%s] greet failed: %s\n", mode, reply.status().ToString().c_str());
    return 1;
  }
  std::printf("[%s] greet \"world\" -> \"%s\" (handler ran in %s)\n", mode,
              reply->message().c_str(),
              reply->pid() == ::getpid() ? "the host process" : "another process");

  constexpr int kCalls = 100;
  absl::Mutex mu;
  int done = 0, correct = 0;
  for (int i = 0; i < kCalls; ++i) {
    greeter::v1::GreetRequest numbered;
    numbered.set_name(absl::StrCat("#", i));
    host.GreetAsync(numbered, [&, i](absl::StatusOr<greeter::v1::GreetReply> r) {
      absl::MutexLock lock(&mu);
      ++done;
      if (r.ok() && r->message() == absl::StrCat("hello, #", i)) ++correct;
    });
  }
  {
    absl::MutexLock lock(&mu);
    auto all_done = [&] { return done == kCalls; };
    mu.AwaitWithTimeout(absl::Condition(&all_done), absl::Seconds(30));
    std::printf("[%s] %d concurrent greetings: %d answered correctly\n", mode, kCalls, correct);
  }

  greeter::v1::WorkRequest work;
  work.set_ms(200);
  iw::CallOptions fast;
  fast.timeout = absl::Milliseconds(20);
  absl::Status late = host.Work(work, fast).status();
  std::printf("[%s] 200 ms of work with a 20 ms timeout -> %s\n", mode, late.ToString().c_str());

  absl::Status closed = host.Close();
  std::printf("[%s] closed: %s\n", mode, closed.ok() ? "OK" : closed.ToString().c_str());
  return closed.ok() ? 0 : 1;
}

}  // namespace

int main() {
  greeter::v1::GreeterHandlerImpl handler;

  iw::WorkerOptions options;
  options.executable = iw::SiblingExecutable("greeter_worker");
  absl::StatusOr<std::unique_ptr<GreeterHost>> spawned = GreeterHost::Spawn(options);
  if (!spawned.ok()) {
    std::fprintf(stderr, "spawn failed: %s\n", spawned.status().ToString().c_str());
    return 1;
  }
  if (Demo("spawned", **spawned) != 0) return 1;

  // The one-line switch: the same handler, served in this process.
  absl::StatusOr<std::unique_ptr<GreeterHost>> in_process = GreeterHost::InProcess(handler);
  if (!in_process.ok()) {
    std::fprintf(stderr, "in-process start failed: %s\n", in_process.status().ToString().c_str());
    return 1;
  }
  return Demo("in-process", **in_process);
}
