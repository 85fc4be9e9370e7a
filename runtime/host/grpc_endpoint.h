// FOR INTERNAL USE. The call path shared by every endpoint that reaches a
// worker through a connection: over the native carrier
// (native_connection.h) when a spawned worker speaks it; else through a
// gRPC channel: small calls over the multiplexed call stream
// (call_stream.h) once the worker accepted it, other calls as unary RPCs
// (sync API for blocking calls, callback API for async ones). Statuses that
// name the method and the bound; the in-flight bookkeeping a close needs.
#ifndef IW_RUNTIME_HOST_GRPC_ENDPOINT_H_
#define IW_RUNTIME_HOST_GRPC_ENDPOINT_H_

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/impl/rpc_method.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "runtime/codegen_support/service_info.h"
#include "runtime/host/call_stream.h"
#include "runtime/host/endpoint.h"
#include "runtime/host/host_stream.h"
#include "runtime/host/native_connection.h"
#include "runtime/wire/grpc_config.h"

namespace iw::internal {

class GrpcEndpoint : public WorkerEndpoint {
 public:
  ~GrpcEndpoint() override;

  const std::string& id() const override { return id_; }
  bool streaming() const override;
  bool native() const override;
  absl::Status Call(int method_index, const google::protobuf::MessageLite& request,
                    google::protobuf::MessageLite* response, const CallTiming& timing) override;
  std::shared_ptr<PendingCall> CallAsync(int method_index, std::string request,
                                         google::protobuf::MessageLite* response,
                                         const CallTiming& timing,
                                         std::function<void(absl::Status)> done) override;
  absl::StatusOr<std::shared_ptr<HostStream>> OpenStream(
      int method_index, const CallTiming& timing,
      std::function<void(absl::Status&)> on_end) override;

 protected:
  explicit GrpcEndpoint(const codegen::ServiceInfo& service);

  const codegen::ServiceInfo& service() const { return service_; }
  void set_id(std::string id) { id_ = std::move(id); }

  // Starts using `channel` (made with HostChannelArguments(limits)), and
  // opens the call stream on it if `call_stream`, waiting until `deadline`
  // for the worker to accept it (calls use unary RPCs until it does). Must
  // be called once before the first call.
  void AttachChannel(std::shared_ptr<grpc::Channel> channel, const HostMessageLimits& limits,
                     bool call_stream, absl::Time deadline);
  // Instead of AttachChannel(): every call goes over `connection` (the
  // native carrier).
  void AttachNative(std::shared_ptr<NativeConnection> connection, const HostMessageLimits& limits);
  // Closes the call stream or native connection (the worker answers what is
  // on it first) and drops the channel, closing the connection. Idempotent.
  void DetachChannel();

  // New calls fail with FAILED_PRECONDITION from now on.
  void StopAccepting();
  // Waits until no admitted call is in flight.
  bool WaitForCalls(absl::Time deadline);

  // Rewrites a failure of the transport (kTransportFailed) into a status
  // that says what happened to the worker (crash, kill, close, lost
  // connection), with that cause (call_failure.h).
  virtual absl::Status ExplainUnavailable(int method_index, const absl::Status& transport) = 0;

 private:
  class AsyncCall;

  // Counts the call in; `stream` gets the call stream if it is usable,
  // `native` the native connection if there is one.
  bool Admit(int method_index, absl::Status* refusal, std::shared_ptr<CallStream>* stream,
             std::shared_ptr<NativeConnection>* native);
  void Release();
  // The gRPC boundary of a unary call: the status gRPC reported, with its
  // cause when gRPC (not the worker) produced it. `request_size`: the
  // serialized request's size.
  absl::Status FromUnaryCall(int method_index, const grpc::Status& status,
                             const grpc::ClientContext& context, size_t request_size) const;
  // The status the caller gets: by cause, the call's deadline, cancellation
  // or what happened to the worker; a handler's status unchanged.
  absl::Status Finish(int method_index, const CallTiming& timing, bool cancelled_by_host,
                      absl::Status status);
  // A unary reply over max_reply_ fails the call (kReplyTooLarge). Counts
  // its bytes in `timing.metrics`.
  absl::Status CheckReplySize(int method_index, const google::protobuf::MessageLite& response,
                              const CallTiming& timing) const;
  // The end of a call that went over the stream.
  absl::Status FinishStreamCall(int method_index, const CallTiming& timing, bool cancelled_by_host,
                                google::protobuf::MessageLite* response, CallStream::Reply reply);
  // The end of a call that went over the native carrier.
  absl::Status FinishNativeCall(int method_index, const CallTiming& timing, bool cancelled_by_host,
                                google::protobuf::MessageLite* response,
                                NativeConnection::Reply reply);
  // A request over max_request_ fails the call (kRequestTooLarge).
  absl::Status CheckRequestSize(int method_index, size_t size) const;

  const codegen::ServiceInfo& service_;
  std::string id_;
  std::shared_ptr<grpc::Channel> channel_;
  std::vector<std::unique_ptr<grpc::internal::RpcMethod>> rpc_methods_;
  int max_request_ = 0;
  int max_reply_ = 0;

  mutable absl::Mutex mu_;
  bool accepting_ ABSL_GUARDED_BY(mu_) = true;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  std::shared_ptr<CallStream> stream_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<NativeConnection> native_ ABSL_GUARDED_BY(mu_);
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_HOST_GRPC_ENDPOINT_H_
