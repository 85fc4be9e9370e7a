// FOR INTERNAL USE AND TESTS. A function a spawned worker runs just before it
// sends its ready byte, on the thread that sends it: lets a test observe the
// worker exactly as its host first sees it (which threads it started,
// whether gRPC was initialised), with no race against what starts later.
#ifndef IW_RUNTIME_WORKER_READY_HOOK_H_
#define IW_RUNTIME_WORKER_READY_HOOK_H_

namespace iw::internal {

using BeforeReadyHook = void (*)();

// Sets the hook (null: none). Call from main(), before RunWorker().
void SetBeforeReadyHookForTesting(BeforeReadyHook hook);

// Runs the hook, if set. Called by Serve() right before SendReady().
void RunBeforeReadyHook();

}  // namespace iw::internal

#endif  // IW_RUNTIME_WORKER_READY_HOOK_H_
