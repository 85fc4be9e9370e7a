// FOR INTERNAL USE. One worker of a pool as the supervisor tracks it
// (pool_supervisor.h): in rotation, leaving, or a warm spare
// (pool_spares.h).
#ifndef IW_RUNTIME_HOST_POOL_SLOT_H_
#define IW_RUNTIME_HOST_POOL_SLOT_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/time/time.h"
#include "runtime/host/endpoint.h"
#include "runtime/process/process_usage.h"

namespace iw::internal {

// Guarded by the pool's lock (Supervisor::mu()), but for `worker`, which is
// set before the slot is shared and is thread-safe itself.
struct PoolSlot {
  std::unique_ptr<WorkerEndpoint> worker;
  std::string id;
  int seat = -1;  // -1 once it gave its seat up (dead, draining, recycling), or a spare
  int in_flight = 0;
  int64_t calls_done = 0;  // finished without the worker dying
  absl::Time born;
  absl::Time idle_since;
  bool dead = false;       // died or killed; leaves once idle
  bool draining = false;   // gets no new call; closes once idle
  bool recycling = false;  // serves until its replacement is ready, then drains
  bool spare = false;      // started and idle, not in rotation until promoted
  // The last /proc reading for HostBase::Metrics() (WorkerMetrics).
  ProcessUsage usage;
  absl::Time usage_read_at = absl::InfinitePast();
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_HOST_POOL_SLOT_H_
