#include "examples/ping/pinger.h"

#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace ping {

absl::StatusOr<ping::v1::PingReply> Pinger::Ping(iw::CallContext& /*context*/,
                                                 const ping::v1::PingRequest& request) {
  ping::v1::PingReply reply;
  reply.set_message(absl::StrCat("pong: ", request.message()));
  reply.set_worker_pid(::getpid());
  return reply;
}

absl::StatusOr<ping::v1::EchoReply> Pinger::Echo(iw::CallContext& /*context*/,
                                                 const ping::v1::EchoRequest& request) {
  ping::v1::EchoReply reply;
  reply.set_data(request.data());
  return reply;
}

absl::StatusOr<ping::v1::WorkReply> Pinger::Work(iw::CallContext& context,
                                                 const ping::v1::WorkRequest& request) {
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

}  // namespace ping
