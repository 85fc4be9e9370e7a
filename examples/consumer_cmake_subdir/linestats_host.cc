// The host of the add_subdirectory() consumer example: spawns the worker, makes
// one call that succeeds, one that misses its deadline, one that crashes the
// worker, and one more (on a fresh worker); prints one stable line for each.
//
//   ./linestats_host [path/to/linestats_worker]
#include <cstdio>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "linestats.iw.h"
#include "runtime/paths.h"

namespace {

// "OK: 3 words, 15 chars" or the status code (messages name pids: unstable).
std::string Describe(const absl::StatusOr<linestats::v1::CountReply>& reply) {
  if (!reply.ok()) return absl::StatusCodeToString(reply.status().code());
  return "OK: " + std::to_string(reply->words()) + " words, " + std::to_string(reply->chars()) +
         " chars";
}

}  // namespace

int main(int argc, char** argv) {
  iw::WorkerOptions options;
  options.executable = argc > 1 ? argv[1] : iw::SiblingExecutable("linestats_worker");
  absl::StatusOr<std::unique_ptr<linestats::v1::LineStatsHost>> spawned =
      linestats::v1::LineStatsHost::Spawn(options);
  if (!spawned.ok()) {
    std::fprintf(stderr, "spawn failed: %s\n", spawned.status().ToString().c_str());
    return 1;
  }
  linestats::v1::LineStatsHost& host = **spawned;

  // 1. A call that works.
  linestats::v1::CountRequest request;
  request.set_text("the quick brown fox");
  const absl::StatusOr<linestats::v1::CountReply> counted = host.Count(request);
  std::printf("count: %s\n", Describe(counted).c_str());

  // 2. A deadline: 5 s of work with a 50 ms timeout.
  request.set_work_ms(5000);
  iw::CallOptions quick;
  quick.timeout = absl::Milliseconds(50);
  const absl::StatusOr<linestats::v1::CountReply> late = host.Count(request, quick);
  std::printf("deadline: %s\n", Describe(late).c_str());

  // 3. The worker crashes: the call fails with a report naming the signal and
  //    the worker's last stderr line.
  request.set_work_ms(0);
  request.set_crash(true);
  const absl::StatusOr<linestats::v1::CountReply> crashed = host.Count(request);
  const std::string report(crashed.status().message());
  std::printf("crash: %s, names SIGABRT: %s, has its stderr: %s\n", Describe(crashed).c_str(),
              absl::StrContains(report, "SIGABRT") ? "yes" : "no",
              absl::StrContains(report, "told to crash") ? "yes" : "no");

  // 4. The next call gets a fresh worker.
  request.set_crash(false);
  request.set_text("again");
  const absl::StatusOr<linestats::v1::CountReply> again = host.Count(request);
  std::printf("after crash: %s\n", Describe(again).c_str());

  const absl::Status closed = host.Close();
  std::printf("close: %s\n", closed.ToString().c_str());
  const bool as_expected = counted.ok() && !late.ok() && !crashed.ok() && again.ok() && closed.ok();
  return as_expected ? 0 : 1;
}
