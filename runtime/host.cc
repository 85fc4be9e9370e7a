#include "runtime/host.h"

#include <utility>

#include "runtime/codegen_support/host_support.h"
#include "runtime/host/worker_pool.h"

namespace iw {

HostBase::HostBase(codegen::StartedWorkers workers) : pool_(std::move(workers).Release()) {}

HostBase::~HostBase() = default;  // the pool closes itself

absl::Status HostBase::Close(const CloseOptions& options) { return pool_->Close(options); }

WorkerState HostBase::state() const { return pool_->state(); }

bool HostBase::IsActive() const {
  WorkerState s = state();
  return s == WorkerState::kStarting || s == WorkerState::kReady;
}

int HostBase::pid() const { return pool_->pid(); }

std::string HostBase::worker_id() const { return pool_->worker_id(); }

PoolStats HostBase::stats() const { return pool_->stats(); }

HostMetrics HostBase::Metrics() const { return pool_->Metrics(); }

absl::Status HostBase::CallErased(int method_index, const google::protobuf::MessageLite& request,
                                  google::protobuf::MessageLite* response,
                                  const CallOptions& options) {
  return pool_->Call(method_index, request, response, options);
}

CallHandle HostBase::CallAsyncErased(int method_index, const google::protobuf::MessageLite& request,
                                     google::protobuf::MessageLite* response,
                                     const CallOptions& options,
                                     std::function<void(absl::Status)> done) {
  return pool_->CallAsync(method_index, request, response, options, std::move(done));
}

std::unique_ptr<internal::ClientStream> HostBase::OpenStream(
    int method_index, const google::protobuf::MessageLite* request, const CallOptions& options) {
  return pool_->OpenStream(method_index, request, options);
}

CallHandle HostBase::StreamAsyncErased(int method_index,
                                       const google::protobuf::MessageLite& request,
                                       google::protobuf::MessageLite* response,
                                       std::function<void()> on_message,
                                       std::function<void(absl::Status)> done,
                                       const CallOptions& options) {
  return pool_->StreamAsync(method_index, request, response, std::move(on_message), std::move(done),
                            options);
}

}  // namespace iw
