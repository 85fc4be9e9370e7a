// The worker of the Makefile consumer example: implements the generated
// wordstats::v1::WordStatsHandler and serves it.
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "wordstats.iw.h"

namespace {

class WordStats final : public wordstats::v1::WordStatsHandler {
 public:
  absl::StatusOr<wordstats::v1::CountReply> Count(
      iw::CallContext& context, const wordstats::v1::CountRequest& request) override {
    if (request.crash()) {
      std::fprintf(stderr, "wordstats worker: told to crash; aborting\n");
      std::fflush(stderr);
      const rlimit no_core = {0, 0};  // no core file in the caller's directory
      setrlimit(RLIMIT_CORE, &no_core);
      std::abort();
    }
    const absl::Time end = absl::Now() + absl::Milliseconds(request.work_ms());
    while (absl::Now() < end && !context.IsCancelled()) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    wordstats::v1::CountReply reply;
    reply.set_words(static_cast<int>(
        std::vector<absl::string_view>(absl::StrSplit(request.text(), ' ', absl::SkipEmpty()))
            .size()));
    reply.set_chars(static_cast<int>(request.text().size()));
    return reply;
  }
};

}  // namespace

int main(int argc, char** argv) {
  WordStats handler;
  return wordstats::v1::RunWordStatsWorker(argc, argv, handler);
}
