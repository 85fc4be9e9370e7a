// The worker of the find_package() consumer example: implements the generated
// textstats::v1::TextStatsHandler and serves it.
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "textstats.iw.h"

namespace {

class TextStats final : public textstats::v1::TextStatsHandler {
 public:
  absl::StatusOr<textstats::v1::CountReply> Count(
      iw::CallContext& context, const textstats::v1::CountRequest& request) override {
    if (request.crash()) {
      std::fprintf(stderr, "textstats worker: told to crash; aborting\n");
      std::fflush(stderr);
      const rlimit no_core = {0, 0};  // no core file in the caller's directory
      setrlimit(RLIMIT_CORE, &no_core);
      std::abort();
    }
    const absl::Time end = absl::Now() + absl::Milliseconds(request.work_ms());
    while (absl::Now() < end && !context.IsCancelled()) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    textstats::v1::CountReply reply;
    reply.mutable_sizes()->set_words(static_cast<int>(
        std::vector<absl::string_view>(absl::StrSplit(request.text(), ' ', absl::SkipEmpty()))
            .size()));
    reply.mutable_sizes()->set_chars(static_cast<int>(request.text().size()));
    return reply;
  }
};

}  // namespace

int main(int argc, char** argv) {
  TextStats handler;
  return textstats::v1::RunTextStatsWorker(argc, argv, handler);
}
