// The worker process of the lifecycle example.
#include <unistd.h>

#include <cstdint>

#include "absl/synchronization/mutex.h"
#include "examples/lifecycle/lifecycle.iw.h"

namespace {

// Module-level state: created when the worker process starts, kept across
// calls, gone when the process exits. Handlers may run concurrently, hence
// the lock.
absl::Mutex g_mu;
int64_t g_total ABSL_GUARDED_BY(g_mu) = 0;
int64_t g_calls ABSL_GUARDED_BY(g_mu) = 0;

class Counter final : public lifecycle::v1::CounterHandler {
 public:
  absl::StatusOr<lifecycle::v1::AddReply> Add(iw::CallContext& /*context*/,
                                              const lifecycle::v1::AddRequest& request) override {
    lifecycle::v1::AddReply reply;
    absl::MutexLock lock(&g_mu);
    g_total += request.amount();
    reply.set_total(g_total);
    reply.set_calls_served(++g_calls);
    reply.set_worker_pid(::getpid());
    return reply;
  }
};

}  // namespace

int main(int argc, char** argv) {
  Counter handler;
  return lifecycle::v1::RunCounterWorker(argc, argv, handler);
}
