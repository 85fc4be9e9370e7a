// FOR INTERNAL USE. Workers reached over the network (or unix: sockets)
// that the host did not start: calls and deadlines as usual, but no process
// control.
//
// All the workers of one Connect() are ONE gRPC channel: gRPC's resolvers
// turn the addresses into a target ("dns:///name:port", re-resolved; or a
// static "ipv4:a,b" / "ipv6:..." / "unix:/a,/b" list), the round_robin LB
// policy spreads the calls over the workers whose connection is up, and
// client-side health checking (grpc.health.v1.Health, which listening
// workers serve) keeps a worker out of rotation while it is not SERVING
// (draining after SIGTERM). The endpoint is therefore never "crashed" and
// never replaced; a call lost with one worker is UNAVAILABLE and marked
// with the cause kCallLost (call_failure.h) so that the method's crash policy decides about a
// retry.
#ifndef IW_RUNTIME_HOST_REMOTE_ENDPOINT_H_
#define IW_RUNTIME_HOST_REMOTE_ENDPOINT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "runtime/host/grpc_endpoint.h"
#include "runtime/host/worker_pool.h"

namespace iw::internal {

// The gRPC target for the addresses given to Connect().
struct RemoteTarget {
  // What the channel resolves: "dns:///name:7000", "ipv4:10.0.0.5:7000,...",
  // "unix:/a,/b".
  std::string target;
  // The addresses as given, for messages and the worker id.
  std::string display;
  // One single-address target per worker ("ipv4:10.0.0.5:7000"), for the
  // health counts; empty for a DNS name (resolved by the monitor instead).
  std::vector<std::string> members;
  // For a DNS name: the name and the port its workers serve on.
  std::string dns_host;
  std::string dns_port;
  // The name TLS verifies when the target has none of its own (a list of IP
  // literals of one host); empty otherwise.
  std::string tls_name;
};

// INVALID_ARGUMENT naming the address for what gRPC's resolvers cannot
// express as one target: a DNS name among other addresses, or a list that
// mixes IPv4, IPv6 and unix: members.
absl::StatusOr<RemoteTarget> MakeRemoteTarget(const codegen::ServiceInfo& service,
                                              const std::vector<std::string>& addresses);

class RemoteEndpoint final : public GrpcEndpoint {
 public:
  // Connects and checks that some worker answers (within connect_timeout).
  // Errors: INVALID_ARGUMENT (half a client certificate), UNAVAILABLE /
  // DEADLINE_EXCEEDED with gRPC's reason when no worker answers (refused,
  // TLS handshake failure such as an untrusted certificate, not serving).
  static absl::StatusOr<std::unique_ptr<RemoteEndpoint>> Connect(
      const codegen::ServiceInfo& service, const RemoteTarget& target, const RemoteOptions& remote);

  int pid() const override { return 0; }
  bool crashed() const override { return false; }
  FailureDescription DescribeDeath() override;
  absl::Status Close(const CloseOptions& options) override;
  void Kill(const std::string& reason) override;
  void SetDeathCallback(std::function<void()> /*callback*/) override {}

 private:
  RemoteEndpoint(const codegen::ServiceInfo& service, std::string target);
  absl::Status ExplainUnavailable(int method_index, const absl::Status& transport) override;

  const std::string target_;
};

// The factory behind the generated Connect(): one RemoteEndpoint (one
// channel over every address) in a pool of one, plus a health monitor that
// counts ready vs. configured workers for stats().
absl::StatusOr<std::unique_ptr<WorkerPool>> ConnectPool(
    const codegen::ServiceInfo& service, const std::vector<std::string>& addresses,
    const RemoteOptions& remote, std::vector<MethodOverrides> method_overrides);

}  // namespace iw::internal

#endif  // IW_RUNTIME_HOST_REMOTE_ENDPOINT_H_
