// The ping example's handler: implements the generated
// ping::v1::PingerHandler. In a library of its own so that the worker binary
// (ping_worker.cc) and the fuzz test (iw_cc_fuzz_test in BUILD.bazel) run
// the same code.
#ifndef EXAMPLES_PING_PINGER_H_
#define EXAMPLES_PING_PINGER_H_

#include "examples/ping/ping.iw.h"

namespace ping {

class Pinger final : public ping::v1::PingerHandler {
 public:
  absl::StatusOr<ping::v1::PingReply> Ping(iw::CallContext& context,
                                           const ping::v1::PingRequest& request) override;
  absl::StatusOr<ping::v1::EchoReply> Echo(iw::CallContext& context,
                                           const ping::v1::EchoRequest& request) override;
  // Works for request.ms(), stopping early once the call is cancelled (the
  // host gave up, or the deadline passed).
  absl::StatusOr<ping::v1::WorkReply> Work(iw::CallContext& context,
                                           const ping::v1::WorkRequest& request) override;
};

}  // namespace ping

#endif  // EXAMPLES_PING_PINGER_H_
