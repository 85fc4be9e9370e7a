// The worker process of the ping example: implements the generated
// ping::v1::PingerHandler and serves it.
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "examples/ping/ping.iw.h"

namespace {

class Pinger final : public ping::v1::PingerHandler {
 public:
  absl::StatusOr<ping::v1::PingReply> Ping(iw::CallContext& /*context*/,
                                           const ping::v1::PingRequest& request) override {
    ping::v1::PingReply reply;
    reply.set_message(absl::StrCat("pong: ", request.message()));
    reply.set_worker_pid(::getpid());
    return reply;
  }

  absl::StatusOr<ping::v1::EchoReply> Echo(iw::CallContext& /*context*/,
                                           const ping::v1::EchoRequest& request) override {
    ping::v1::EchoReply reply;
    reply.set_data(request.data());
    return reply;
  }

  absl::StatusOr<ping::v1::WorkReply> Work(iw::CallContext& context,
                                           const ping::v1::WorkRequest& request) override {
    ping::v1::WorkReply reply;
    absl::Time end = absl::Now() + absl::Milliseconds(request.ms());
    while (absl::Now() < end) {
      if (context.IsCancelled()) {  // the host gave up: stop early
        reply.set_stopped_early(true);
        break;
      }
      absl::SleepFor(absl::Milliseconds(1));
    }
    return reply;
  }
};

}  // namespace

int main(int argc, char** argv) {
  Pinger handler;
  return ping::v1::RunPingerWorker(argc, argv, handler);
}
