#include "runtime/host/pool_spares.h"

#include <algorithm>
#include <utility>

namespace iw::internal {

int SpareSet::MissingLocked(absl::Time now) const {
  if (now < not_before_) return 0;
  return std::max(0, target_ - static_cast<int>(ready_.size()) - starting_);
}

absl::Time SpareSet::NextStartLocked() const {
  if (target_ - static_cast<int>(ready_.size()) - starting_ <= 0) return absl::InfiniteFuture();
  return not_before_;
}

void SpareSet::StartedLocked(std::shared_ptr<PoolSlot> slot, absl::Time now) {
  --starting_;
  if (slot == nullptr) {
    NoteFailureLocked(now);
    return;
  }
  slot->spare = true;
  slot->seat = -1;
  ready_.push_back(std::move(slot));
}

std::shared_ptr<PoolSlot> SpareSet::TakeLocked(absl::Time now,
                                               std::vector<std::shared_ptr<PoolSlot>>* dead) {
  while (!ready_.empty()) {
    std::shared_ptr<PoolSlot> slot = std::move(ready_.front());
    ready_.pop_front();
    // A spare that died but whose death was not reported yet is no use.
    if (slot->worker->crashed()) {
      ++died_;
      dead->push_back(std::move(slot));
      continue;
    }
    slot->spare = false;
    // It served nobody, but it is a ready worker: the backoff is over.
    failures_ = 0;
    not_before_ = now + refill_delay_;
    ++promoted_;
    return slot;
  }
  return nullptr;
}

bool SpareSet::RemoveDeadLocked(const PoolSlot& slot, absl::Time now) {
  auto it = std::find_if(ready_.begin(), ready_.end(),
                         [&](const std::shared_ptr<PoolSlot>& s) { return s.get() == &slot; });
  if (it == ready_.end()) return false;
  ready_.erase(it);
  ++died_;
  if (now - slot.born < young_death_) {
    NoteFailureLocked(now);
  } else {
    failures_ = 0;
    not_before_ = absl::InfinitePast();
  }
  return true;
}

std::vector<std::shared_ptr<PoolSlot>> SpareSet::TakeAllLocked() {
  std::vector<std::shared_ptr<PoolSlot>> all(ready_.begin(), ready_.end());
  ready_.clear();
  return all;
}

void SpareSet::StatsLocked(PoolStats* stats) const {
  stats->spare_workers = static_cast<int>(ready_.size());
  stats->workers_starting += starting_;
  stats->spares_promoted = promoted_;
  stats->spares_died = died_;
}

void SpareSet::NoteFailureLocked(absl::Time now) {
  ++failures_;
  not_before_ = backoff_(failures_, now);
}

}  // namespace iw::internal
