#include "runtime/worker/ready_hook.h"

#include <atomic>

namespace iw::internal {
namespace {

// Set before serving, read once by the thread that sends the ready byte.
std::atomic<BeforeReadyHook> g_before_ready_hook{nullptr};

}  // namespace

void SetBeforeReadyHookForTesting(BeforeReadyHook hook) {
  g_before_ready_hook.store(hook, std::memory_order_release);
}

void RunBeforeReadyHook() {
  if (BeforeReadyHook hook = g_before_ready_hook.load(std::memory_order_acquire)) hook();
}

}  // namespace iw::internal
