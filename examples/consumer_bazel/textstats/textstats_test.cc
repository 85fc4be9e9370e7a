// A test of the consumer's own: spawns the real worker and checks one call.
// Runs with `bazel test //textstats:textstats_test`.
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
    std::fprintf(stderr, "FAIL: spawn: %s\n", host.status().ToString().c_str());
    return 1;
  }
  textstats::v1::CountRequest request;
  request.set_text("a b\nc\n");
  absl::StatusOr<textstats::v1::CountReply> reply = (*host)->Count(request);
  if (!reply.ok() || reply->words() != 3 || reply->lines() != 2 || reply->bytes() != 6) {
    std::fprintf(stderr, "FAIL: Count: %s\n",
                 reply.ok() ? reply->DebugString().c_str() : reply.status().ToString().c_str());
    return 1;
  }
  std::printf("PASS: words=3 lines=2 bytes=6\n");
  return 0;
}
