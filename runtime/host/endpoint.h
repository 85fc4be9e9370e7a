// FOR INTERNAL USE. What a pool talks to: `WorkerEndpoint`, one worker however
// it is reached (a spawned process, an in-process handler, remote workers
// behind one gRPC channel), and the timing and metadata of one call on it.
#ifndef IW_RUNTIME_HOST_ENDPOINT_H_
#define IW_RUNTIME_HOST_ENDPOINT_H_

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "runtime/call_handle.h"
#include "runtime/common/timeouts.h"
#include "runtime/metadata.h"
#include "runtime/options.h"
#include "runtime/wire/call_failure.h"
#include "runtime/worker_crash.h"

namespace google::protobuf {
class MessageLite;
}  // namespace google::protobuf

namespace iw::internal {

class HostStream;      // host_stream.h
class MethodRecorder;  // call_metrics.h

// When a call must be done, and where that bound came from; plus what
// travels with the call as gRPC metadata.
struct CallTiming {
  absl::Time deadline;
  ResolvedTimeout timeout;
  // DeadlinePolicy::kReplaceWorker: the grace after the deadline.
  std::optional<absl::Duration> replace_after;
  // Sent as "iw-request-id" unless empty.
  std::string request_id;
  // What host middleware added (already validated); may be null.
  const Metadata* request_metadata = nullptr;
  // If not null: replaced by the user metadata the worker sent back
  // (initial and trailing), for every call that reached it. Must outlive
  // the call's completion.
  Metadata* response_metadata = nullptr;
  // The method's metrics (call_metrics.h): the endpoint adds the bytes it
  // sends and receives and the worker's own time from its reply. Null: not
  // recorded.
  MethodRecorder* metrics = nullptr;
};

// One worker, as the pool sees it. Thread-safe.
class WorkerEndpoint {
 public:
  virtual ~WorkerEndpoint() = default;

  // "Calculator#3 (pid 4242)".
  virtual const std::string& id() const = 0;
  // The process id, 0 if none (or reaped).
  virtual int pid() const = 0;
  // True once the worker died without being asked to.
  virtual bool crashed() const = 0;
  // True while small calls go over the multiplexed call stream.
  virtual bool streaming() const { return false; }
  // True while calls go over the native carrier (WorkerTransport::kNative).
  virtual bool native() const { return false; }
  // How it died: "worker Ping#1 (pid 42) crashed: exit code 3", and the
  // last stderr lines. May wait briefly for the last output.
  virtual FailureDescription DescribeDeath() = 0;

  // One call. Returns the handler's status unchanged, or DEADLINE_EXCEEDED /
  // CANCELLED / UNAVAILABLE / RESOURCE_EXHAUSTED with a message naming the
  // method, and the cause as a value (call_failure.h; a call lost with one
  // of the several workers an endpoint reaches has kCallLost: its crash
  // policy applies, but the endpoint stays in rotation). The pool removes
  // the internal payloads before the status reaches the caller.
  virtual absl::Status Call(int method_index, const google::protobuf::MessageLite& request,
                            google::protobuf::MessageLite* response, const CallTiming& timing) = 0;
  // The same, asynchronously, with the request already serialized (the
  // bytes are sent as they are, without another copy). `done` runs exactly
  // once on a framework thread; `response` must live until then.
  virtual std::shared_ptr<PendingCall> CallAsync(int method_index, std::string request,
                                                 google::protobuf::MessageLite* response,
                                                 const CallTiming& timing,
                                                 std::function<void(absl::Status)> done) = 0;

  // Opens a stream of the streaming method `method_index` (stream.h): the
  // worker is sent the call at once; its messages and end go through the
  // result, which counts as a call in flight until it has ended. `on_end`
  // runs once when it ends, after the endpoint's own finisher made the
  // status final (HostStream::AddFinisher); not at all if the stream could
  // not be opened (the result is then the refusal). FAILED_PRECONDITION if the worker is closing.
  // Endpoints that cannot carry streams return UNIMPLEMENTED.
  virtual absl::StatusOr<std::shared_ptr<HostStream>> OpenStream(
      int method_index, const CallTiming& timing, std::function<void(absl::Status&)> on_end) {
    (void)timing;
    (void)on_end;
    return absl::UnimplementedError(
        absl::StrCat("method #", method_index, ": this worker cannot carry streams"));
  }

  // Graceful stop with escalation (see CloseOptions).
  virtual absl::Status Close(const CloseOptions& options) = 0;
  // Kills the worker now; calls in flight fail with UNAVAILABLE naming
  // `reason`. The worker does not count as crashed.
  virtual void Kill(const std::string& reason) = 0;
  // `callback` runs once, on a framework thread, when the worker dies on its
  // own. Set before the first call.
  virtual void SetDeathCallback(std::function<void()> callback) = 0;
  // `callback` runs (on a framework thread, at most once) when the worker
  // asks to be recycled (CallContext::RequestRecycle()), with the reason.
  // Endpoints that cannot hear it ignore it.
  virtual void SetRecycleCallback(std::function<void(const std::string&)> /*callback*/) {}
  // How it died, as the typed payload of death statuses (once it died).
  virtual std::optional<WorkerCrash> CrashDetails() { return std::nullopt; }
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_HOST_ENDPOINT_H_
