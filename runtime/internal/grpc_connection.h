// FOR INTERNAL USE. The call path shared by every connection that reaches a
// worker through a gRPC channel: deadline resolution, the blocking call (sync
// API: no thread hand-off), the async call (callback API), mapping of
// transport failures to statuses that name the method and the bound, and the
// in-flight bookkeeping a close needs.
#ifndef IW_RUNTIME_INTERNAL_GRPC_CONNECTION_H_
#define IW_RUNTIME_INTERNAL_GRPC_CONNECTION_H_

#include <grpcpp/channel.h>
#include <grpcpp/impl/rpc_method.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "runtime/codegen_support/service_info.h"
#include "runtime/internal/connection.h"
#include "runtime/internal/timeouts.h"

namespace iw::internal {

class GrpcConnection : public Connection {
 public:
  ~GrpcConnection() override;

  absl::Status Call(int method_index, const google::protobuf::MessageLite& request,
                    google::protobuf::MessageLite* response,
                    const CallOptions& options) override;
  CallHandle CallAsync(int method_index, const google::protobuf::MessageLite& request,
                       google::protobuf::MessageLite* response,
                       const CallOptions& options,
                       std::function<void(absl::Status)> done) override;
  const std::string& worker_id() const override { return worker_id_; }

 protected:
  GrpcConnection(const ServiceInfo& service,
                 std::vector<MethodOverrides> method_overrides,
                 std::optional<absl::Duration> call_timeout);

  const ServiceInfo& service() const { return service_; }
  void set_worker_id(std::string id) { worker_id_ = std::move(id); }

  // Starts using `channel`; must be called once before the first call.
  void AttachChannel(std::shared_ptr<grpc::Channel> channel);
  // Drops the channel (closing the connection); no call may be in flight.
  // Idempotent.
  void DetachChannel();

  // New calls fail with `AdmissionError()` from now on.
  void StopAccepting();
  // Waits until every admitted call (sync or async) has completed.
  bool WaitForCalls(absl::Time deadline);
  int calls_in_flight();

  // Why a new call is refused (FAILED_PRECONDITION or UNAVAILABLE), or OK.
  virtual absl::Status AdmissionError(int method_index) = 0;
  // Rewrites an UNAVAILABLE from the transport into a status that says what
  // happened to the worker (crash, close).
  virtual absl::Status ExplainUnavailable(int method_index,
                                          const absl::Status& transport) = 0;

 private:
  class AsyncCall;

  bool Admit(int method_index, absl::Status* refusal);
  void Release();
  absl::Status Finish(int method_index, const ResolvedTimeout& timeout,
                      absl::Time deadline, bool cancelled_by_host,
                      absl::Status status);

  const ServiceInfo& service_;
  const std::vector<MethodOverrides> method_overrides_;
  const std::optional<absl::Duration> call_timeout_;
  std::string worker_id_;
  std::shared_ptr<grpc::Channel> channel_;
  std::vector<std::unique_ptr<grpc::internal::RpcMethod>> rpc_methods_;

  absl::Mutex mu_;
  bool accepting_ ABSL_GUARDED_BY(mu_) = true;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_INTERNAL_GRPC_CONNECTION_H_
