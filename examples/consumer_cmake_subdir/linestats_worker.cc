// The worker of the add_subdirectory() consumer example: implements the generated
// linestats::v1::LineStatsHandler and serves it.
#include <sys/resource.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "linestats.iw.h"

namespace {

class LineStats final : public linestats::v1::LineStatsHandler {
 public:
  absl::StatusOr<linestats::v1::CountReply> Count(
      iw::CallContext& context, const linestats::v1::CountRequest& request) override {
    if (request.crash()) {
      std::fprintf(stderr, "linestats worker: told to crash; aborting\n");
      std::fflush(stderr);
      const rlimit no_core = {0, 0};  // no core file in the caller's directory
      setrlimit(RLIMIT_CORE, &no_core);
      std::abort();
    }
    const absl::Time end = absl::Now() + absl::Milliseconds(request.work_ms());
    while (absl::Now() < end && !context.IsCancelled()) {
      absl::SleepFor(absl::Milliseconds(1));
    }
    linestats::v1::CountReply reply;
    reply.set_words(static_cast<int>(
        std::vector<absl::string_view>(absl::StrSplit(request.text(), ' ', absl::SkipEmpty()))
            .size()));
    reply.set_chars(static_cast<int>(request.text().size()));
    return reply;
  }
};

}  // namespace

int main(int argc, char** argv) {
  LineStats handler;
  return linestats::v1::RunLineStatsWorker(argc, argv, handler);
}
