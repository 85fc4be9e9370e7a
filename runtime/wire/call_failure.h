// FOR INTERNAL USE. Why a call failed, as a value on its absl::Status.
//
// The code of a status says what kind of failure it is; the message says it
// to a person. What the runtime itself must know about a failure (was it
// this call's deadline? a message over the size limit? did the worker die?)
// travels as a typed payload next to them and is never read back from the
// message:
//
// - where our code produces a failure, it sets the cause right there
//   (WithCause(), CallFailed(), MessageTooLarge());
// - where gRPC produces it (its deadline timer, its message size checks, a
//   broken connection), GrpcEndpoint classifies it once, where the gRPC call
//   returns, from gRPC's status code and what the endpoint knows (who
//   produced the status, the sizes it sent, the limits it configured).
//
// The payloads use internal type URLs ("type.isolated-workers.internal/...").
// They are removed before a status reaches the user (WorkerPool), with one
// exception: a worker's own statuses carry their cause to the host as a
// gRPC status detail, so a standalone worker's other clients may see a
// detail of that type URL on the DEADLINE_EXCEEDED it sends for a reply that
// came too late. A host trusts only the causes a worker can know
// (TrustedFromWorker()).
#ifndef IW_RUNTIME_WIRE_CALL_FAILURE_H_
#define IW_RUNTIME_WIRE_CALL_FAILURE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace iw::internal {

enum class FailureCause : uint8_t {
  // No cause recorded: the status is the handler's (or not about a call).
  kNone = 0,
  // This call's deadline passed: the host's timer, gRPC's deadline (either
  // end), the call stream's timer, or the worker's check that a reply came
  // too late. The host reports it as DeadlineExceeded().
  kCallDeadline = 1,
  // The request or the reply is over the message size limit (the message
  // is final: MessageTooLarge()).
  kRequestTooLarge = 2,
  kReplyTooLarge = 3,
  // The host cancelled the call (CallHandle::Cancel()).
  kCancelledByHost = 4,
  // The transport failed the call (gRPC's UNAVAILABLE, or the call stream
  // ended under it); the endpoint has not yet said what happened to its
  // worker (GrpcEndpoint::ExplainUnavailable() does).
  kTransportFailed = 5,
  // What the endpoint found: the worker died (crashed, was killed, or
  // replaced itself) ...
  kWorkerDied = 6,
  // ... the connection to it broke while it may still be running ...
  kConnectionLost = 7,
  // ... the call was lost with one of the several workers a remote endpoint
  // reaches (the endpoint stays in rotation; the call's crash policy
  // applies) ...
  kCallLost = 8,
  // ... or the worker was closed while the call was in flight.
  kWorkerClosed = 9,
};

// A failure described without the "<method>: " its message starts with.
struct FailureDescription {
  // "worker Ping#1 (pid 42) crashed: exit code 3".
  std::string what;
  // "; last stderr lines:\n  ..." (the worker's own words, always last in
  // a message), or empty.
  std::string stderr_tail;

  std::string ToString() const { return what + stderr_tail; }
};

// `status` with `cause` recorded (replacing any earlier cause). OK stays OK.
absl::Status WithCause(absl::Status status, FailureCause cause);
// The recorded cause, kNone if there is none.
FailureCause CauseOf(const absl::Status& status);

// `code` "<method>: <what><stderr tail>", with `cause`, and with the
// description kept as data (DescriptionOf()).
absl::Status CallFailed(absl::StatusCode code, FailureCause cause, absl::string_view method,
                        FailureDescription description);
// The description of a status made by CallFailed().
std::optional<FailureDescription> DescriptionOf(const absl::Status& status);
// `status` with `suffix` appended to its description, before the stderr
// tail; the message is rebuilt from `method` and the description. Without a
// description, `suffix` ends the message. Payloads are kept.
absl::Status WithSuffix(const absl::Status& status, absl::string_view method,
                        absl::string_view suffix);

// Why a request could not be serialized, in the words users have always
// seen (gRPC's, from when gRPC serialized requests). No code reads it.
inline constexpr char kSerializeFailedMessage[] = "Failed to serialize message";

// RESOURCE_EXHAUSTED "<method>: the request is over the message size limit
// (<size> vs. <limit>) bytes; see max_request_bytes" (kRequestTooLarge), or
// the same for the reply (kReplyTooLarge, max_response_bytes).
absl::Status MessageTooLarge(FailureCause which, absl::string_view method, uint64_t size,
                             int64_t limit);

// DEADLINE_EXCEEDED kDeadlinePassedInWorker with kCallDeadline: what a
// worker answers for a call whose deadline passed before its handler
// returned (a late reply never passes for a success).
absl::Status DeadlinePassedInWorker();

// A status the worker sent, as far as the host may trust it: only the causes
// a worker can know (kCallDeadline, kReplyTooLarge) are kept; every other
// internal payload is removed.
absl::Status TrustedFromWorker(absl::Status status);
// `status` without any internal payload (cause, description), as the user
// gets it.
absl::Status WithoutInternalPayloads(absl::Status status);

}  // namespace iw::internal

#endif  // IW_RUNTIME_WIRE_CALL_FAILURE_H_
