// FOR INTERNAL USE. The warm spares of a pool (PoolOptions::warm_spares):
// workers started ahead of need, ready and idle, and kept out of rotation,
// so that the supervisor (pool_supervisor.h) replaces a dead, drained or
// recycled worker, or grows the pool, by promoting one instead of spawning
// while calls wait.
//
// The supervisor starts spares on its task threads, promotes them and closes
// them; this class keeps the ready ones (the oldest is promoted first), the
// count of those starting, and the backoff of spares that cannot start or
// die young while idle (the crash-loop rule of a seat, see
// Supervisor::Tuning: the first failure in a row is replaced at once, each
// further one doubles the delay).
#ifndef IW_RUNTIME_HOST_POOL_SPARES_H_
#define IW_RUNTIME_HOST_POOL_SPARES_H_

#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "absl/time/time.h"
#include "runtime/host/pool_slot.h"
#include "runtime/worker_state.h"

namespace iw::internal {

// Thread-compatible: every method but the constructor and target() runs
// with the pool's lock (Supervisor::mu()) held.
class SpareSet {
 public:
  // When a start may follow the `failures`-th failure in a row at `now`.
  using Backoff = std::function<absl::Time(int failures, absl::Time now)>;

  // `target`: PoolOptions::warm_spares. A spare that dies idle less than
  // `young_death` after it was ready counts as a failed start. A spare
  // taken is replaced `refill_delay` later, not at once: a worker's startup
  // (tens of ms of CPU, most of it the dynamic loader) would compete for the
  // CPU with the first calls on the spare just promoted, which is what the
  // spare is for (docs/pools.md, "Warm spares").
  SpareSet(int target, absl::Duration young_death, absl::Duration refill_delay, Backoff backoff)
      : target_(target),
        young_death_(young_death),
        refill_delay_(refill_delay),
        backoff_(std::move(backoff)) {}

  SpareSet(const SpareSet&) = delete;
  SpareSet& operator=(const SpareSet&) = delete;

  int target() const { return target_; }

  // How many spares to start now: the target less those ready and those
  // starting; 0 while a failure backs off (until NextStartLocked()).
  int MissingLocked(absl::Time now) const;
  // When starts deferred by a backoff are due; InfiniteFuture if none are.
  absl::Time NextStartLocked() const;
  void NoteStartingLocked() { ++starting_; }
  // A start ended after the pool began closing (its worker is closed).
  void StartCancelledLocked() { --starting_; }
  // A start ended: `slot` is the ready spare, or null if the start failed.
  void StartedLocked(std::shared_ptr<PoolSlot> slot, absl::Time now);
  // The oldest ready spare, out of the set and no longer marked a spare;
  // null if none is ready. Spares found dead on the way (their death not
  // reported yet) leave the set into `dead`, for the caller to close.
  std::shared_ptr<PoolSlot> TakeLocked(absl::Time now,
                                       std::vector<std::shared_ptr<PoolSlot>>* dead);
  // `slot` died while a spare: takes it out of the set (the caller closes
  // it). Returns false if it was not in the set (promoted, found dead by
  // TakeLocked(), or closed already).
  bool RemoveDeadLocked(const PoolSlot& slot, absl::Time now);
  // Every ready spare, out of the set (the pool is closing).
  std::vector<std::shared_ptr<PoolSlot>> TakeAllLocked();
  // spare_workers, spares_promoted, spares_died; starting spares are added
  // to workers_starting.
  void StatsLocked(PoolStats* stats) const;
  // Runs `visit` on each ready spare, oldest first.
  template <typename Visit>
  void ForEachLocked(Visit visit) const {
    for (const auto& slot : ready_) visit(slot);
  }

 private:
  void NoteFailureLocked(absl::Time now);

  const int target_;
  const absl::Duration young_death_;
  const absl::Duration refill_delay_;
  const Backoff backoff_;
  std::deque<std::shared_ptr<PoolSlot>> ready_;
  int starting_ = 0;
  int failures_ = 0;  // failed starts and young idle deaths, in a row
  // No start before: a failure's backoff, or the refill delay.
  absl::Time not_before_ = absl::InfinitePast();
  int64_t promoted_ = 0;
  int64_t died_ = 0;
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_HOST_POOL_SPARES_H_
