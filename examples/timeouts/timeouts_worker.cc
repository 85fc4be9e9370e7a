// The worker process of the timeouts example.
//
// With --slow-start it sleeps a minute before serving, like a worker that
// loads a huge model or hangs in its initialisation: its host's startup
// timeout fires first.
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "examples/timeouts/timeouts.iw.h"

namespace {

class Sleeper final : public timeouts::v1::SleeperHandler {
 public:
  absl::StatusOr<timeouts::v1::NapReply> Nap(iw::CallContext& context,
                                             const timeouts::v1::NapRequest& request) override {
    return DoNap("Nap", context, request);
  }

  absl::StatusOr<timeouts::v1::NapReply> QuickNap(
      iw::CallContext& context, const timeouts::v1::NapRequest& request) override {
    return DoNap("QuickNap", context, request);
  }

  absl::StatusOr<timeouts::v1::NapReply> Crunch(iw::CallContext& context,
                                                const timeouts::v1::NapRequest& request) override {
    return DoNap("Crunch", context, request);
  }

  absl::StatusOr<timeouts::v1::EventsReply> Events(
      iw::CallContext& /*context*/, const timeouts::v1::EventsRequest& /*request*/) override {
    timeouts::v1::EventsReply reply;
    absl::MutexLock lock(&mu_);
    for (std::string& event : events_) reply.add_events(std::move(event));
    events_.clear();
    return reply;
  }

 private:
  timeouts::v1::NapReply DoNap(const char* name, iw::CallContext& context,
                               const timeouts::v1::NapRequest& request) {
    const absl::Time start = absl::Now();
    timeouts::v1::NapReply reply;
    // The host's deadline travels with the call.
    reply.set_deadline_left_ms(absl::ToInt64Milliseconds(context.deadline() - start));
    const absl::Time end = start + absl::Milliseconds(request.ms());
    while (absl::Now() < end) {
      if (request.stop_when_cancelled() && context.IsCancelled()) {
        reply.set_stopped_early(true);
        break;
      }
      absl::SleepFor(absl::Milliseconds(1));
    }
    reply.set_napped_ms(absl::ToInt64Milliseconds(absl::Now() - start));
    // A reply after the deadline is never delivered as a success: the
    // framework turns it into DEADLINE_EXCEEDED. Returning normally is fine.
    std::string event;
    if (reply.stopped_early()) {
      event = absl::StrCat(name, "(", request.ms(), " ms): stopped early, IsCancelled() was true");
    } else if (context.IsCancelled()) {
      event = absl::StrCat(name, "(", request.ms(),
                           " ms): finished the whole nap after the host gave up; its reply "
                           "is dropped");
    }
    if (!event.empty()) {
      absl::MutexLock lock(&mu_);
      events_.push_back(std::move(event));
    }
    return reply;
  }

  absl::Mutex mu_;
  // Module-level state: lives as long as the worker process.
  std::vector<std::string> events_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--slow-start") == 0) absl::SleepFor(absl::Minutes(1));
  }
  Sleeper handler;
  return timeouts::v1::RunSleeperWorker(argc, argv, handler);
}
