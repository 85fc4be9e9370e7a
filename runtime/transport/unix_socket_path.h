// -----------------------------------------------------------------------------
// File: transport/unix_socket_path.h
// -----------------------------------------------------------------------------
//
// FOR INTERNAL USE. Checks for the Unix socket path a worker started by hand
// listens on (`--iw_listen=unix:PATH`). Spawned workers never use a path:
// they talk over an inherited socketpair (see fd_transport.h).
//
// Example (worker.cc):
//
//   if (absl::Status s = CheckUnixSocketPath(path); !s.ok()) { print; exit 2; }
//   if (absl::Status s = RemoveStaleUnixSocket(path); !s.ok()) { print; exit 2; }
//   // bind with umask 0177 → the socket file is 0600

#ifndef IW_RUNTIME_TRANSPORT_UNIX_SOCKET_PATH_H_
#define IW_RUNTIME_TRANSPORT_UNIX_SOCKET_PATH_H_

#include <cstddef>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace iw::internal {

// Bytes of sockaddr_un::sun_path on this platform, the terminating NUL
// included: 108 on Linux, 104 on macOS and the BSDs.
//
// OS pitfall: bind() and connect() with a longer path do not fail
// everywhere; some libraries (gRPC's among them, in some versions) truncate
// it silently, and the socket then appears at a different, shorter path. We
// refuse such paths up front instead.
size_t MaxUnixSocketPathBytes();

// OK if `path` fits in sun_path with its NUL, is not empty and has no NUL
// byte inside. INVALID_ARGUMENT otherwise, naming the path, its length and
// the limit ("... is 120 bytes; Unix socket paths are limited to 107 bytes
// (108 with the terminating NUL) on this platform ...").
absl::Status CheckUnixSocketPath(absl::string_view path);

// Makes way for a new listener at `path`:
// - nothing there: OK;
// - a socket nobody listens on (connect() gets ECONNREFUSED; left behind by a
//   worker that was killed): unlinks it, OK;
// - a socket something listens on: FAILED_PRECONDITION (another worker is
//   serving there; we never steal its path);
// - anything else (a regular file, a directory, a symlink): FAILED_PRECONDITION,
//   and the file is left alone.
//
// OS pitfall: the check and the unlink are not atomic; two workers started
// on the same path at the same instant can both decide it is stale. Give
// each worker its own path in a directory only you can write to.
absl::Status RemoveStaleUnixSocket(const std::string& path);

}  // namespace iw::internal

#endif  // IW_RUNTIME_TRANSPORT_UNIX_SOCKET_PATH_H_
