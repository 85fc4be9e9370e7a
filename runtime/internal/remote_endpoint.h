// FOR INTERNAL USE. A worker reached over the network (or a unix: address)
// that the host did not start: calls and deadlines as usual, but no process
// control. gRPC reconnects by itself after a broken connection, so the
// endpoint is never "crashed" and never replaced.
#ifndef IW_RUNTIME_INTERNAL_REMOTE_ENDPOINT_H_
#define IW_RUNTIME_INTERNAL_REMOTE_ENDPOINT_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "runtime/internal/grpc_endpoint.h"

namespace iw::internal {

class RemoteEndpoint final : public GrpcEndpoint {
 public:
  // Connects and checks the worker answers (within connect_timeout).
  // Errors: INVALID_ARGUMENT (plain text to a non-local address, half a
  // client certificate), UNAVAILABLE / DEADLINE_EXCEEDED with gRPC's reason
  // (refused, TLS handshake failure such as an untrusted certificate).
  static absl::StatusOr<std::unique_ptr<RemoteEndpoint>> Connect(
      const ServiceInfo& service, const std::string& address, const RemoteOptions& remote);

  int pid() const override { return 0; }
  bool crashed() const override { return false; }
  std::string DescribeDeath() override;
  absl::Status Close(const CloseOptions& options) override;
  void Kill(const std::string& reason) override;
  void SetDeathCallback(std::function<void()> /*callback*/) override {}

 private:
  RemoteEndpoint(const ServiceInfo& service, std::string address);
  absl::Status ExplainUnavailable(int method_index, const absl::Status& transport) override;

  const std::string address_;
};

// The factory behind the generated Connect(): a pool with one endpoint per
// address.
absl::StatusOr<std::unique_ptr<Connection>> ConnectWorkers(
    const ServiceInfo& service, const std::vector<std::string>& addresses,
    const RemoteOptions& remote, std::vector<MethodOverrides> method_overrides);

}  // namespace iw::internal

#endif  // IW_RUNTIME_INTERNAL_REMOTE_ENDPOINT_H_
