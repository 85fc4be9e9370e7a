// FOR INTERNAL USE. The call path shared by every endpoint that reaches a
// worker through a gRPC channel: the blocking call (sync API, no thread
// hand-off), the async call (callback API), statuses that name the method
// and the bound, and the in-flight bookkeeping a close needs.
#ifndef IW_RUNTIME_INTERNAL_GRPC_ENDPOINT_H_
#define IW_RUNTIME_INTERNAL_GRPC_ENDPOINT_H_

#include <grpcpp/channel.h>
#include <grpcpp/impl/rpc_method.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "runtime/codegen_support/service_info.h"
#include "runtime/internal/connection.h"

namespace iw::internal {

class GrpcEndpoint : public WorkerEndpoint {
 public:
  ~GrpcEndpoint() override;

  const std::string& id() const override { return id_; }
  absl::Status Call(int method_index, const google::protobuf::MessageLite& request,
                    google::protobuf::MessageLite* response,
                    const CallTiming& timing) override;
  std::shared_ptr<PendingCall> CallAsync(int method_index,
                                         const grpc::ByteBuffer& request,
                                         google::protobuf::MessageLite* response,
                                         const CallTiming& timing,
                                         std::function<void(absl::Status)> done) override;

 protected:
  explicit GrpcEndpoint(const ServiceInfo& service);

  const ServiceInfo& service() const { return service_; }
  void set_id(std::string id) { id_ = std::move(id); }

  // Starts using `channel`; must be called once before the first call.
  void AttachChannel(std::shared_ptr<grpc::Channel> channel);
  // Drops the channel (closing the connection) once no call is in flight.
  // Idempotent.
  void DetachChannel();

  // New calls fail with FAILED_PRECONDITION from now on.
  void StopAccepting();
  // Waits until no admitted call is in flight.
  bool WaitForCalls(absl::Time deadline);

  // Rewrites an UNAVAILABLE from the transport into a status that says what
  // happened to the worker (crash, kill, close).
  virtual absl::Status ExplainUnavailable(int method_index,
                                          const absl::Status& transport) = 0;

 private:
  class AsyncCall;

  bool Admit(int method_index, absl::Status* refusal);
  void Release();
  absl::Status Finish(int method_index, const CallTiming& timing,
                      bool cancelled_by_host, absl::Status status);

  const ServiceInfo& service_;
  std::string id_;
  std::shared_ptr<grpc::Channel> channel_;
  std::vector<std::unique_ptr<grpc::internal::RpcMethod>> rpc_methods_;

  absl::Mutex mu_;
  bool accepting_ ABSL_GUARDED_BY(mu_) = true;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_INTERNAL_GRPC_ENDPOINT_H_
