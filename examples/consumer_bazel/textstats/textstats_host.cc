// The host: spawns the worker, calls it, prints stable lines.
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "runtime/paths.h"
#include "textstats/textstats.iw.h"

int main() {
  iw::WorkerOptions options;
  options.executable = iw::SiblingExecutable("textstats_worker");
  absl::StatusOr<std::unique_ptr<textstats::v1::TextStatsHost>> host =
      textstats::v1::TextStatsHost::Spawn(options);
  if (!host.ok()) {
    std::fprintf(stderr, "spawn failed: %s\n", host.status().ToString().c_str());
    return 1;
  }

  textstats::v1::CountRequest request;
  request.set_text("one two three\nfour five\n");
  absl::StatusOr<textstats::v1::CountReply> reply = (*host)->Count(request);
  if (!reply.ok()) {
    std::fprintf(stderr, "count failed: %s\n", reply.status().ToString().c_str());
    return 1;
  }
  std::printf("words=%lld lines=%lld bytes=%lld in another process: %s\n",
              static_cast<long long>(reply->words()), static_cast<long long>(reply->lines()),
              static_cast<long long>(reply->bytes()),
              reply->worker_pid() != ::getpid() ? "yes" : "no");

  // The .proto gives Count 500 ms; this call takes longer.
  request.set_delay_ms(5000);
  std::printf("slow call: %s\n", (*host)->Count(request).status().ToString().c_str());

  std::printf("close: %s\n", (*host)->Close().ToString().c_str());
  return 0;
}
