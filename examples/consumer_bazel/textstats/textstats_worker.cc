// The worker: implements the generated TextStatsHandler.
#include <unistd.h>

#include <cctype>

#include "absl/time/clock.h"
#include "textstats/textstats.iw.h"

namespace {

class TextStats final : public textstats::v1::TextStatsHandler {
 public:
  absl::StatusOr<textstats::v1::CountReply> Count(
      iw::CallContext& context, const textstats::v1::CountRequest& request) override {
    if (request.delay_ms() > 0) {
      absl::Time until = absl::Now() + absl::Milliseconds(request.delay_ms());
      while (absl::Now() < until && !context.IsCancelled()) {
        absl::SleepFor(absl::Milliseconds(1));
      }
    }
    textstats::v1::CountReply reply;
    bool in_word = false;
    for (char c : request.text()) {
      bool space = std::isspace(static_cast<unsigned char>(c)) != 0;
      if (!space && !in_word) reply.set_words(reply.words() + 1);
      in_word = !space;
      if (c == '\n') reply.set_lines(reply.lines() + 1);
    }
    reply.set_bytes(static_cast<int64_t>(request.text().size()));
    reply.set_worker_pid(::getpid());
    return reply;
  }
};

}  // namespace

int main(int argc, char** argv) {
  TextStats handler;
  return textstats::v1::RunTextStatsWorker(argc, argv, handler);
}
