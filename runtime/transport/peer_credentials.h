// -----------------------------------------------------------------------------
// File: transport/peer_credentials.h
// -----------------------------------------------------------------------------
//
// FOR INTERNAL USE. The worker's "ready" message on the control socket,
// carrying kernel-verified credentials, so the host knows the byte came from
// the very process it spawned.
//
// Why not SO_PEERCRED: on a socketpair(), SO_PEERCRED reports the process
// that *created* the pair — the host itself — not the process that holds the
// other end after fork+exec. SCM_CREDENTIALS is checked per message: the
// kernel fills in (or verifies) the sender's pid/uid/gid at sendmsg() time.
//
// OS pitfalls:
// - The receiver only gets the credentials if SO_PASSCRED is set on its end
//   when it reads (EnablePeerCredentials()); without it recvmsg() carries no
//   control message and ReceiveReady() refuses the byte.
// - A process with CAP_SYS_ADMIN (pid) / CAP_SETUID (uid) may send any
//   credentials it likes; the check guards against unprivileged impostors
//   (another process of the user that got hold of the descriptor), not root.
// - The pid is translated into the receiver's pid namespace; a worker in a
//   pid namespace the host cannot see is reported with pid 0.
// - Linux only. See docs/design/windows.md for the Windows counterpart
//   (GetNamedPipeClientProcessId).
//
// Example:
//
//   // Worker, once its server serves:
//   IW_RETURN_IF_ERROR(SendReady(control_fd));
//   // Host, before polling:
//   IW_RETURN_IF_ERROR(EnablePeerCredentials(control.get()));
//   // Host, when the control fd is readable:
//   IW_ASSIGN_OR_RETURN(ReadyState state, ReceiveReady(control.get(), child_pid));

#ifndef IW_RUNTIME_TRANSPORT_PEER_CREDENTIALS_H_
#define IW_RUNTIME_TRANSPORT_PEER_CREDENTIALS_H_

#include <sys/types.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

#include <string>

namespace iw::internal {

// Worker side: sends the one-byte kReady message on `control_fd` with an
// SCM_CREDENTIALS ancillary message holding this process's pid, uid and gid.
// Never raises SIGPIPE. Errors: the errno of sendmsg() (e.g. EPIPE when the
// host is gone) as a status.
// With a non-empty `schema` (at most 65535 bytes), sends kReadyWithSchema and
// the schema frame instead, in the same message (see control_protocol.h).
// With `native`, sends kReadyNative instead of kReadyWithSchema (the schema
// frame follows the same way): the worker serves the native carrier.
absl::Status SendReady(int control_fd, absl::string_view schema = {}, bool native = false);

// Host side: sets SO_PASSCRED on `control_fd`, so that ReceiveReady() sees
// the sender's credentials. Call it before the worker can send (right after
// creating the socketpair, or at least before the first ReceiveReady()).
absl::Status EnablePeerCredentials(int control_fd);

// What ReceiveReady() found.
enum class ReadyState {
  kReady,            // the worker sent kReady with matching credentials
  kReadyWithSchema,  // the same, and its schema frame follows (ReceiveSchema)
  kReadyNative,      // the same, from a worker serving the native carrier
  kPending,          // nothing to read yet (EAGAIN/EINTR): keep polling
  kClosed,           // EOF: the worker closed its end (it is exiting or dead)
};

// Host side: reads at most one byte from `control_fd` without blocking and
// checks the sender's credentials. Returns:
// - kReady / kPending / kClosed as above;
// - PERMISSION_DENIED if the byte came without credentials (SO_PASSCRED not
//   set), from another pid than `expected_pid`, or from another uid than
//   ours (getuid()); the message names both sides ("ready message came from
//   pid 123 uid 0, expected the spawned worker pid 456 uid 0");
// - INTERNAL for a byte other than kReady (a protocol error);
// - other errno statuses of recvmsg().
absl::StatusOr<ReadyState> ReceiveReady(int control_fd, pid_t expected_pid);

// Host side, after kReadyWithSchema: reads the schema frame that follows,
// waiting for it until `deadline`. Errors: DEADLINE_EXCEEDED, UNAVAILABLE
// (the worker closed its end), errno statuses of recv().
absl::StatusOr<std::string> ReceiveSchema(int control_fd, absl::Time deadline);

}  // namespace iw::internal

#endif  // IW_RUNTIME_TRANSPORT_PEER_CREDENTIALS_H_
