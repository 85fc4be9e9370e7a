// FOR INTERNAL USE. What a generated host talks to: one worker, however it is
// reached. Implementations: ProcessConnection (a spawned worker process);
// later in-process, remote and pooled workers behind the same interface.
#ifndef IW_RUNTIME_INTERNAL_CONNECTION_H_
#define IW_RUNTIME_INTERNAL_CONNECTION_H_

#include <functional>
#include <string>

#include "absl/status/status.h"
#include "runtime/host.h"
#include "runtime/options.h"

namespace google::protobuf {
class MessageLite;
}  // namespace google::protobuf

namespace iw::internal {

// Cancellation hook of one asynchronous call.
class PendingCall {
 public:
  virtual ~PendingCall() = default;
  virtual void Cancel() = 0;
};

class Connection {
 public:
  virtual ~Connection() = default;

  virtual absl::Status Call(int method_index,
                            const google::protobuf::MessageLite& request,
                            google::protobuf::MessageLite* response,
                            const CallOptions& options) = 0;
  virtual CallHandle CallAsync(int method_index,
                               const google::protobuf::MessageLite& request,
                               google::protobuf::MessageLite* response,
                               const CallOptions& options,
                               std::function<void(absl::Status)> done) = 0;
  virtual absl::Status Close(const CloseOptions& options) = 0;
  virtual WorkerState state() const = 0;
  virtual int pid() const = 0;
  virtual const std::string& worker_id() const = 0;
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_INTERNAL_CONNECTION_H_
