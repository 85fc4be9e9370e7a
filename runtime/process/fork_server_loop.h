// -----------------------------------------------------------------------------
// File: process/fork_server_loop.h
// -----------------------------------------------------------------------------
//
// The server end of a fork server (fork_server.h): a process started once,
// stopped at a known point (single-threaded, libraries loaded and
// initialised), that forks one child per request of its host. Each child
// returns from ServeForkRequestsIfAsked() as the process the host asked for:
// its own pid and process group, exactly the environment, descriptors and
// resource limits of the request, stdout/stderr where asked.
//
// Example (the worker runtime calls it first thing in RunWorker()):
//
//   ServeForkRequestsIfAsked([] { WarmUpOnce(); });
//   // Here: a normal process, or a child of the fork server.

#ifndef IW_RUNTIME_PROCESS_FORK_SERVER_LOOP_H_
#define IW_RUNTIME_PROCESS_FORK_SERVER_LOOP_H_

#include <functional>

namespace iw::internal {

// If this process was started as a fork server (kForkServerFdEnv is set):
// runs `prepare` once (warm-ups whose results children inherit), then serves
// fork requests until its host goes away, and returns only in a forked
// child. The server itself never returns: it _exit()s when its host closes
// the connection or dies (orphan-proof: it never outlives its host), without
// running static destructors. Otherwise returns at once.
//
// IMPORTANT: fork() copies only the calling thread. A process that is not
// single-threaded at this point (a thread started before RunWorker(), by a
// static initializer or the user's main()) refuses to serve: its host
// starts workers with exec instead. `prepare` must not start threads either.
void ServeForkRequestsIfAsked(const std::function<void()>& prepare);

}  // namespace iw::internal

#endif  // IW_RUNTIME_PROCESS_FORK_SERVER_LOOP_H_
