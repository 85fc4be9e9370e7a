#include "runtime/host.h"

#include <utility>

#include "runtime/internal/connection.h"

namespace iw {

const char* WorkerStateName(WorkerState state) {
  switch (state) {
    case WorkerState::kStarting: return "starting";
    case WorkerState::kReady: return "ready";
    case WorkerState::kClosing: return "closing";
    case WorkerState::kClosed: return "closed";
    case WorkerState::kCrashed: return "crashed";
  }
  return "unknown";
}

void CallHandle::Cancel() {
  if (call_) call_->Cancel();
}

HostBase::HostBase(std::unique_ptr<internal::Connection> connection)
    : connection_(std::move(connection)) {}

HostBase::~HostBase() = default;  // the connection closes itself

absl::Status HostBase::Close(const CloseOptions& options) {
  return connection_->Close(options);
}

WorkerState HostBase::state() const { return connection_->state(); }

bool HostBase::IsActive() const {
  WorkerState s = state();
  return s == WorkerState::kStarting || s == WorkerState::kReady;
}

int HostBase::pid() const { return connection_->pid(); }

std::string HostBase::worker_id() const { return connection_->worker_id(); }

PoolStats HostBase::stats() const { return connection_->stats(); }

absl::Status HostBase::CallErased(int method_index,
                                  const google::protobuf::MessageLite& request,
                                  google::protobuf::MessageLite* response,
                                  const CallOptions& options) {
  return connection_->Call(method_index, request, response, options);
}

CallHandle HostBase::CallAsyncErased(int method_index,
                                     const google::protobuf::MessageLite& request,
                                     google::protobuf::MessageLite* response,
                                     const CallOptions& options,
                                     std::function<void(absl::Status)> done) {
  return connection_->CallAsync(method_index, request, response, options,
                                std::move(done));
}

}  // namespace iw
