#include "runtime/host/pool_supervisor.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "runtime/host/crash_details.h"
#include "runtime/host/retry_policy.h"
#include "runtime/logging.h"

namespace iw::internal {

namespace {

std::string Mebibytes(int64_t bytes) { return absl::StrCat(bytes / (1024 * 1024), " MiB"); }

}  // namespace

absl::Time Supervisor::NotBefore(int young_deaths, absl::Time now, const Tuning& tuning) {
  return young_deaths < 2
             ? absl::InfinitePast()
             : now + std::min(tuning.max_backoff,
                              tuning.first_backoff * (1 << std::min(young_deaths - 2, 10)));
}

Supervisor::Supervisor(const codegen::ServiceInfo& service, const WorkerOptions& options,
                       const PoolOptions& pool, int per_worker_limit, Factory factory,
                       Tuning tuning)
    : service_(service),
      options_(options),
      logger_(options.log_sink, options.log_level),
      pool_(pool),
      per_worker_limit_(per_worker_limit),
      factory_(std::move(factory)),
      tuning_(tuning),
      spares_(pool.warm_spares, tuning.young_death, tuning.spare_refill_delay,
              [tuning](int failures, absl::Time now) { return NotBefore(failures, now, tuning); }) {
  current_id_ = service.full_name;
  spares_active_ = !pool.lazy_start;
  seats_.resize(static_cast<size_t>(std::max(pool.max_workers, 1)));
}

Supervisor::~Supervisor() {
  // Close() joined the thread; a pool whose Start() failed never ran it.
  if (supervisor_.joinable()) supervisor_.join();
  JoinTasks(/*all=*/true);
}

absl::Status Supervisor::Start() {
  if (!pool_.lazy_start) {
    for (int i = 0; i < pool_.min_workers; ++i) {
      absl::StatusOr<std::unique_ptr<WorkerEndpoint>> worker = factory_();
      if (!worker.ok()) return worker.status();  // started ones close in ~WorkerPool
      absl::MutexLock lock(&mu_);
      AddSlotLocked(NewSlotLocked(*std::move(worker)), i);
    }
  }
  Later later;
  {
    absl::MutexLock lock(&mu_);
    std::string id = slots_.empty() ? service_.full_name : slots_.front()->id;
    current_id_ = id;
    SetStateLocked(WorkerState::kReady, id, &later);
  }
  RunAll(later);
  supervisor_ = std::thread([this] { Supervise(); });
  return absl::OkStatus();
}

absl::Status Supervisor::RefusalLocked() const {
  if (spawning_disabled_ && slots_.empty()) return NeverRespawnedLocked();
  if (failed_starts_ >= tuning_.fail_fast_after && !last_spawn_error_.ok()) {
    bool serving = false;
    for (const auto& slot : slots_) serving = serving || !(slot->dead || slot->draining);
    if (!serving) return last_spawn_error_;
  }
  return absl::OkStatus();
}

std::shared_ptr<Supervisor::Slot> Supervisor::PickLocked() {
  std::shared_ptr<Slot> best;
  for (const auto& slot : slots_) {
    if (slot->dead || slot->draining || slot->in_flight >= per_worker_limit_) continue;
    // A worker being recycled still serves, but last.
    if (!best || (best->recycling && !slot->recycling) ||
        (best->recycling == slot->recycling && slot->in_flight < best->in_flight)) {
      best = slot;
    }
  }
  return best;
}

int Supervisor::LiveLocked() const {
  int live = 0;
  for (const auto& slot : slots_) {
    live += slot->dead || slot->draining || slot->recycling ? 0 : 1;
  }
  return live;
}

std::shared_ptr<Supervisor::Slot> Supervisor::NewSlotLocked(
    std::unique_ptr<WorkerEndpoint> worker) {
  auto slot = std::make_shared<Slot>();
  slot->id = worker->id();
  slot->born = slot->idle_since = absl::Now();
  // The callbacks may run at once, on the worker's own thread, and read the
  // slot without the pool's lock: setting them last (under the endpoint's
  // lock) publishes the slot to that thread. A spare gets no call that
  // would publish it otherwise.
  WorkerEndpoint& endpoint = *worker;
  slot->worker = std::move(worker);
  endpoint.SetDeathCallback([this, weak = std::weak_ptr<Slot>(slot)] { OnDeath(weak); });
  endpoint.SetRecycleCallback([this, weak = std::weak_ptr<Slot>(slot)](const std::string& why) {
    OnRecycleRequest(weak, why);
  });
  return slot;
}

void Supervisor::AddSlotLocked(const std::shared_ptr<Slot>& slot, int seat) {
  slot->seat = seat;
  seats_[seat].occupied = true;
  slot->idle_since = absl::Now();  // a promoted spare starts its idle time now
  slots_.push_back(slot);
  ++counters_.workers_spawned;
}

void Supervisor::AdoptLocked(const std::shared_ptr<Slot>& slot, int seat, Later* later) {
  failed_starts_ = 0;
  last_spawn_error_ = absl::OkStatus();
  const bool replacing = counters_.workers_crashed > 0 && LiveLocked() < pool_.min_workers;
  const std::string replaced = current_id_;
  AddSlotLocked(slot, seat);
  if (replacing) {
    logger_.Log(LogLevel::kInfo, slot->id, absl::StrCat("replacing crashed worker ", replaced));
  }
  // A worker being recycled leaves now that its replacement is ready.
  std::shared_ptr<Slot> oldest;
  for (const auto& other : slots_) {
    if (other->recycling && (!oldest || other->born < oldest->born)) oldest = other;
  }
  if (oldest) DrainLocked(*oldest, absl::StrCat("recycled; replaced by ", slot->id));
  current_id_ = slot->id;
  SetStateLocked(WorkerState::kReady, slot->id, later);
  queue_->DispatchLocked(later);
}

void Supervisor::CloseLaterLocked(std::shared_ptr<Slot> slot) {
  RunTaskLocked([slot = std::move(slot)] { slot->worker->Close(CloseOptions()).IgnoreError(); });
}

bool Supervisor::ReleaseLocked(Slot& slot, const absl::Status& status, const CallTiming& timing,
                               Later* later) {
  --slot.in_flight;
  const bool unavailable = status.code() == absl::StatusCode::kUnavailable;
  // Lost with one of a remote endpoint's workers: retried per the crash
  // policy, but the endpoint (its other workers) stays in rotation.
  const bool lost = unavailable && !slot.dead && CauseOf(status) == FailureCause::kCallLost;
  const bool died = unavailable && (slot.dead || slot.worker->crashed() || lost);
  if (!died) ++slot.calls_done;
  if (died) {
    if (std::optional<WorkerCrash> crash = WorkerCrashOf(status)) last_crash_ = crash;
  }
  // Mark it now, before the death callback: a retry must not pick it.
  if (died && !slot.dead && !lost) {
    // The call's status already tells how the worker died; drop the
    // "<method>: " prefix.
    MarkDeadLocked(slot, DescriptionOrMessage(status), later);
  }
  // DEADLINE_REPLACE_WORKER: its handler may still run, and the worker
  // exits once the grace is over unless it returns: no new call goes there.
  if (!slot.dead && timing.replace_after.has_value() &&
      status.code() == absl::StatusCode::kDeadlineExceeded) {
    DrainLocked(slot, "a DEADLINE_REPLACE_WORKER call overran its deadline on it");
  }
  if (!slot.dead && pool_.recycle_after_calls > 0 && slot.calls_done >= pool_.recycle_after_calls) {
    RecycleLocked(slot, absl::StrCat("served ", slot.calls_done,
                                     " calls (PoolOptions::recycle_after_calls)"));
  }
  if (slot.in_flight == 0) {
    slot.idle_since = absl::Now();
    // The supervisor times idle retirement (pools above their minimum).
    if (pool_.idle_timeout != absl::InfiniteDuration() &&
        static_cast<int>(slots_.size()) > pool_.min_workers) {
      wake_ = true;
    }
  }
  if (slot.dead || slot.draining) {
    wake_ = true;  // the supervisor removes and replaces it
  }
  return died;
}

void Supervisor::SetStateLocked(WorkerState state, const std::string& id, Later* later) {
  state_ = state;
  if (options_.on_state_change) {
    later->push_back([callback = options_.on_state_change, state, id] { callback(state, id); });
  }
}

absl::Status Supervisor::NeverRespawnedLocked() const {
  absl::Status status = absl::UnavailableError(
      absl::StrCat(last_death_.what, " (RespawnPolicy::kNever)", last_death_.stderr_tail));
  if (last_crash_) status = WithCrash(std::move(status), *last_crash_);
  return status;
}

void Supervisor::NoteEarlyFailureLocked(Seat& seat) {
  ++seat.young_deaths;
  seat.not_before = NotBefore(seat.young_deaths, absl::Now(), tuning_);
}

void Supervisor::MarkDeadLocked(Slot& slot, FailureDescription description, Later* later) {
  slot.dead = true;
  later->push_back([logger = logger_, id = slot.id, text = description.ToString()] {
    logger.Log(LogLevel::kError, id, text);
  });
  last_death_ = std::move(description);
  ++counters_.workers_crashed;
  const int freed = slot.seat;
  if (slot.seat >= 0) {
    Seat& seat = seats_[slot.seat];
    seat.occupied = false;
    if (slot.calls_done == 0 && absl::Now() - slot.born < tuning_.young_death) {
      NoteEarlyFailureLocked(seat);
    } else {
      // It served: a kill from outside, or a crash on some input, not a
      // crash loop. Replaced at once.
      seat.young_deaths = 0;
      seat.not_before = absl::InfinitePast();
    }
    slot.seat = -1;
  }
  if (options_.respawn == RespawnPolicy::kNever) spawning_disabled_ = true;
  if (!closing_) SetStateLocked(WorkerState::kCrashed, slot.id, later);
  if (freed >= 0) PromoteSpareLocked(freed, later);
  wake_ = true;
}

void Supervisor::PromoteSpareLocked(int seat, Later* later) {
  if (closing_ || spawning_disabled_ || LiveLocked() >= pool_.min_workers) return;
  std::vector<std::shared_ptr<Slot>> dead;
  std::shared_ptr<Slot> spare = spares_.TakeLocked(absl::Now(), &dead);
  for (auto& slot : dead) CloseLaterLocked(std::move(slot));
  if (spare == nullptr) return;
  later->push_back([logger = logger_, id = spare->id] {
    logger.Log(LogLevel::kInfo, id, "warm spare promoted");
  });
  AdoptLocked(spare, seat, later);
}

void Supervisor::DrainLocked(Slot& slot, const std::string& reason) {
  if (slot.dead || slot.draining) return;
  logger_.Log(LogLevel::kInfo, slot.id, absl::StrCat("draining: ", reason));
  slot.draining = true;
  slot.recycling = false;
  if (slot.seat >= 0) {
    seats_[slot.seat] = Seat();  // it did not die: the seat starts afresh
    slot.seat = -1;
  }
  wake_ = true;
}

void Supervisor::RecycleLocked(Slot& slot, const std::string& reason) {
  if (slot.dead || slot.draining || slot.recycling || closing_) return;
  logger_.Log(LogLevel::kInfo, slot.id, absl::StrCat("recycling: ", reason));
  slot.recycling = true;
  ++counters_.workers_recycled;
  if (slot.seat >= 0) {
    seats_[slot.seat] = Seat();
    slot.seat = -1;
  }
  wake_ = true;
}

void Supervisor::OnDeath(const std::weak_ptr<Slot>& weak) {
  std::shared_ptr<Slot> slot = weak.lock();
  if (!slot) return;
  FailureDescription description = slot->worker->DescribeDeath();  // may wait for stderr
  Later later;
  {
    absl::MutexLock lock(&mu_);
    if (slot->spare) {
      // It served no call: no caller saw it, so it is no crash of the pool.
      if (spares_.RemoveDeadLocked(*slot, absl::Now())) {
        later.push_back([logger = logger_, id = slot->id, text = description.ToString()] {
          logger.Log(LogLevel::kWarning, id,
                     absl::StrCat("warm spare died while idle; starting another: ", text));
        });
        CloseLaterLocked(slot);
        wake_ = true;
      }
    } else {
      if (!slot->dead) {
        MarkDeadLocked(*slot, description, &later);
      } else {
        last_death_ = description;  // the fuller story (stderr tail)
      }
      last_crash_ = slot->worker->CrashDetails();
      CountCrashLocked(last_crash_);
    }
  }
  RunAll(later);
}

void Supervisor::OnRecycleRequest(const std::weak_ptr<Slot>& weak, const std::string& reason) {
  std::shared_ptr<Slot> slot = weak.lock();
  if (!slot) return;
  absl::MutexLock lock(&mu_);
  RecycleLocked(*slot, reason);
}

void Supervisor::RunTaskLocked(std::function<void()> work) {
  auto task = std::make_unique<Task>();
  Task* raw = task.get();
  // The thread marks itself done under mu_, which we hold until it is
  // listed.
  raw->thread = std::thread([this, raw, work = std::move(work)] {
    work();
    absl::MutexLock lock(&mu_);
    raw->done = true;
    wake_ = true;  // the supervisor joins it
  });
  tasks_.push_back(std::move(task));
}

void Supervisor::JoinTasks(bool all) {
  std::vector<std::unique_ptr<Task>> finished;
  {
    absl::MutexLock lock(&mu_);
    for (auto it = tasks_.begin(); it != tasks_.end();) {
      if (all || (*it)->done) {
        finished.push_back(std::move(*it));
        it = tasks_.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto& task : finished) task->thread.join();
}

void Supervisor::SpawnInto(int seat_index) {
  absl::StatusOr<std::unique_ptr<WorkerEndpoint>> worker = factory_();
  Later later;
  std::unique_ptr<WorkerEndpoint> discard;
  {
    absl::MutexLock lock(&mu_);
    --starting_;
    Seat& seat = seats_[seat_index];
    if (!worker.ok()) {
      seat.occupied = false;
      NoteEarlyFailureLocked(seat);
      ++failed_starts_;
      ++spawn_failures_;
      last_spawn_error_ = worker.status();
      if (!WorkerCrashOf(last_spawn_error_)) {
        WorkerCrash crash;
        crash.set_cause(WorkerCrash::SPAWN_FAILURE);
        last_spawn_error_ = WithCrash(last_spawn_error_, crash);
      }
      logger_.Log(LogLevel::kError, service_.full_name,
                  absl::StrCat("could not start a worker: ", worker.status().message()));
      // Calls wait for the next attempt, unless starts keep failing and no
      // worker is up to serve them.
      bool serving = false;
      for (const auto& slot : slots_) serving = serving || !(slot->dead || slot->draining);
      if (failed_starts_ >= tuning_.fail_fast_after && !serving) {
        queue_->FailAllLocked(last_spawn_error_, &later);
      }
      if (!serving && starting_ == 0) {
        SetStateLocked(WorkerState::kCrashed, service_.full_name, &later);
      }
    } else if (closing_) {
      seat.occupied = false;
      discard = std::move(*worker);
    } else {
      AdoptLocked(NewSlotLocked(*std::move(worker)), seat_index, &later);
    }
    wake_ = true;  // look again: more may be needed
  }
  RunAll(later);
  if (discard) discard->Close(CloseOptions()).IgnoreError();
}

void Supervisor::SpawnSpare() {
  absl::StatusOr<std::unique_ptr<WorkerEndpoint>> worker = factory_();
  std::unique_ptr<WorkerEndpoint> discard;
  std::string ready_id;
  {
    absl::MutexLock lock(&mu_);
    if (!worker.ok()) {
      ++spawn_failures_;
      spares_.StartedLocked(nullptr, absl::Now());
      logger_.Log(LogLevel::kError, service_.full_name,
                  absl::StrCat("could not start a warm spare: ", worker.status().message()));
    } else if (closing_) {
      spares_.StartCancelledLocked();
      discard = *std::move(worker);
    } else {
      ready_id = (*worker)->id();
      spares_.StartedLocked(NewSlotLocked(*std::move(worker)), absl::Now());
    }
    wake_ = true;  // a failed start may be due again later
  }
  if (!ready_id.empty()) logger_.Log(LogLevel::kInfo, ready_id, "warm spare ready");
  if (discard) discard->Close(CloseOptions()).IgnoreError();
}

void Supervisor::Supervise() {
  while (true) {
    Later later;
    std::vector<std::pair<std::weak_ptr<Slot>, int>> rss_probes;
    {
      absl::MutexLock lock(&mu_);
      // Sleep until there is something to do or a timer is due.
      absl::Time wake_at = queue_->NextExpiryLocked();
      const absl::Time before_sleep = absl::Now();
      for (const Seat& seat : seats_) {
        if (!seat.occupied && seat.not_before > before_sleep) {
          wake_at = std::min(wake_at, seat.not_before);
        }
      }
      if (pool_.idle_timeout != absl::InfiniteDuration() &&
          static_cast<int>(slots_.size()) > pool_.min_workers) {
        for (const auto& slot : slots_) {
          if (slot->in_flight == 0) {
            wake_at = std::min(wake_at, slot->idle_since + pool_.idle_timeout);
          }
        }
      }
      if (pool_.recycle_after_age != absl::InfiniteDuration()) {
        for (const auto& slot : slots_) {
          if (!slot->dead && !slot->draining && !slot->recycling) {
            wake_at = std::min(wake_at, slot->born + pool_.recycle_after_age);
          }
        }
      }
      if (pool_.recycle_above_rss_bytes > 0) wake_at = std::min(wake_at, next_rss_check_);
      // Spares to start: now, or once their backoff is over.
      if (spares_active_ && !spawning_disabled_) {
        wake_at = std::min(wake_at, spares_.NextStartLocked());
      }
      auto woken = [this]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return wake_ || stop_supervisor_; };
      // A start deferred by a backoff that ran out since the last pass (so
      // the loop above no longer times it) is due now.
      wake_at = std::min(wake_at, deferred_start_);
      mu_.AwaitWithDeadline(absl::Condition(&woken), wake_at);
      wake_ = false;
      deferred_start_ = absl::InfiniteFuture();
      if (stop_supervisor_) break;
      const absl::Time now = absl::Now();

      // Dead and drained workers leave once no call is on them; they close
      // on a task thread (a drained one may take its grace period).
      for (auto it = slots_.begin(); it != slots_.end();) {
        if (((*it)->dead || (*it)->draining) && (*it)->in_flight == 0) {
          std::shared_ptr<Slot> leaving = *it;
          RunTaskLocked([leaving] { leaving->worker->Close(CloseOptions()).IgnoreError(); });
          it = slots_.erase(it);
        } else {
          ++it;
        }
      }
      // Idle workers above the minimum retire.
      int live = LiveLocked();
      for (auto it = slots_.begin(); it != slots_.end() && live > pool_.min_workers;) {
        const auto& slot = *it;
        if (!slot->dead && !slot->draining && !slot->recycling && slot->in_flight == 0 &&
            queue_->QueuedLocked() == 0 && now - slot->idle_since >= pool_.idle_timeout) {
          logger_.Log(LogLevel::kInfo, slot->id, "retiring idle worker");
          if (slot->seat >= 0) seats_[slot->seat] = Seat();
          std::shared_ptr<Slot> leaving = slot;
          RunTaskLocked([leaving] { leaving->worker->Close(CloseOptions()).IgnoreError(); });
          it = slots_.erase(it);
          --live;
        } else {
          ++it;
        }
      }
      // Workers past their age are recycled.
      if (pool_.recycle_after_age != absl::InfiniteDuration()) {
        for (const auto& slot : slots_) {
          if (now - slot->born >= pool_.recycle_after_age) {
            RecycleLocked(*slot,
                          absl::StrCat("older than ", absl::FormatDuration(pool_.recycle_after_age),
                                       " (PoolOptions::recycle_after_age)"));
          }
        }
      }
      if (pool_.recycle_above_rss_bytes > 0 && now >= next_rss_check_) {
        next_rss_check_ = now + tuning_.rss_check_interval;
        for (const auto& slot : slots_) {
          if (slot->dead || slot->draining || slot->recycling) continue;
          if (int pid = slot->worker->pid(); pid > 0) rss_probes.emplace_back(slot, pid);
        }
      }
      // Async calls whose deadline passed while they waited.
      queue_->ExpireLocked(now, &later);
      // Start workers, in parallel: up to min_workers, one per worker being
      // recycled, and for queued calls (while every worker is saturated)
      // up to max_workers.
      live = LiveLocked();
      int recycling = 0;
      for (const auto& slot : slots_) recycling += slot->recycling && !slot->dead ? 1 : 0;
      int want = std::max(pool_.min_workers, std::min(pool_.max_workers, live + recycling));
      const int queued = queue_->QueuedLocked();
      if (queued > 0 && PickLocked() == nullptr) {
        const int limit = std::max(1, per_worker_limit_);
        const int64_t needed = (static_cast<int64_t>(queued) + limit - 1) / limit + live;
        want = std::max<int64_t>(want, std::min<int64_t>(pool_.max_workers, needed));
      }
      int to_start = want - live - starting_;
      if (closing_ || spawning_disabled_) to_start = 0;
      for (; to_start > 0; --to_start) {
        // A free seat whose backoff is over, the least troubled first.
        int best = -1;
        for (int i = 0; i < static_cast<int>(seats_.size()); ++i) {
          const Seat& seat = seats_[i];
          if (seat.occupied || seat.not_before > now) continue;
          if (best < 0 || seat.young_deaths < seats_[best].young_deaths) best = i;
        }
        if (best < 0) {
          // The rest wait for their seats' backoff.
          for (const Seat& seat : seats_) {
            if (!seat.occupied) deferred_start_ = std::min(deferred_start_, seat.not_before);
          }
          break;
        }
        spares_active_ = true;
        std::vector<std::shared_ptr<Slot>> dead;
        std::shared_ptr<Slot> spare = spares_.TakeLocked(absl::Now(), &dead);
        for (auto& slot : dead) CloseLaterLocked(std::move(slot));
        if (spare != nullptr) {
          // Ready now: no call waits for a spawn.
          later.push_back([logger = logger_, id = spare->id] {
            logger.Log(LogLevel::kInfo, id, "warm spare promoted");
          });
          AdoptLocked(spare, best, &later);
          ++live;
          continue;
        }
        seats_[best].occupied = true;
        ++starting_;
        if (live == 0) SetStateLocked(WorkerState::kStarting, service_.full_name, &later);
        RunTaskLocked([this, best] { SpawnInto(best); });
      }
      // Warm spares, in the background (one taken above is replaced here).
      if (spares_active_ && !closing_ && !spawning_disabled_) {
        for (int missing = spares_.MissingLocked(now); missing > 0; --missing) {
          spares_.NoteStartingLocked();
          RunTaskLocked([this] { SpawnSpare(); });
        }
      }
      if (spawning_disabled_ && slots_.empty()) {
        queue_->FailAllLocked(NeverRespawnedLocked(), &later);
      }
    }
    RunAll(later);
    for (const auto& [weak, pid] : rss_probes) {
      std::optional<int64_t> rss = ResidentBytes(pid);
      if (!rss || *rss <= pool_.recycle_above_rss_bytes) continue;
      std::shared_ptr<Slot> slot = weak.lock();
      if (!slot) continue;
      absl::MutexLock lock(&mu_);
      RecycleLocked(*slot, absl::StrCat("resident memory ", Mebibytes(*rss), " above ",
                                        Mebibytes(pool_.recycle_above_rss_bytes),
                                        " (PoolOptions::recycle_above_rss_bytes)"));
    }
    JoinTasks(/*all=*/false);
  }
  // Stopping: every spawn and close under way finishes first (a spawn that
  // completes now closes its worker at once).
  JoinTasks(/*all=*/true);
}

bool Supervisor::BeginCloseLocked(Later* later) {
  const bool first = !closing_;
  if (first) {
    closing_ = true;
    SetStateLocked(WorkerState::kClosing, current_id_, later);
  }
  stop_supervisor_ = true;
  return first;
}

absl::Status Supervisor::Close(const CloseOptions& options,
                               absl::FunctionRef<void()> wait_for_calls) {
  Later later;
  if (supervisor_.joinable()) supervisor_.join();
  std::vector<std::shared_ptr<Slot>> slots;
  {
    absl::MutexLock lock(&mu_);
    slots = slots_;
    // Spares close with the workers (a spare still starting was closed by
    // its task when the supervisor joined it).
    for (auto& spare : spares_.TakeAllLocked()) slots.push_back(std::move(spare));
  }
  // Close every worker at once: the grace periods run in parallel.
  std::vector<absl::Status> results(slots.size());
  std::vector<std::thread> closers;
  for (size_t i = 0; i < slots.size(); ++i) {
    closers.emplace_back([&, i] { results[i] = slots[i]->worker->Close(options); });
  }
  for (auto& closer : closers) closer.join();
  absl::Status result = absl::OkStatus();
  for (size_t i = 0; i < slots.size(); ++i) {
    // A crash was reported through the calls and the state already.
    // A spare that died idle was reported as such (not a crash either).
    const bool died = slots[i]->dead || (slots[i]->spare && slots[i]->worker->crashed());
    if (!results[i].ok() && !died && result.ok()) result = results[i];
  }
  wait_for_calls();
  // Destroy the endpoints outside the lock (their threads may call back).
  slots.clear();
  {
    absl::MutexLock lock(&mu_);
    slots_.clear();
    close_result_ = result;
    SetStateLocked(WorkerState::kClosed, current_id_, &later);
  }
  RunAll(later);
  return result;
}

WorkerState Supervisor::state() const {
  absl::MutexLock lock(&mu_);
  // Closing/closed win; otherwise the pool is ready while any worker is.
  if (closing_ || close_result_.has_value()) return state_;
  for (const auto& slot : slots_) {
    if (!slot->dead && !slot->draining) return WorkerState::kReady;
  }
  if (starting_ > 0) return WorkerState::kStarting;
  return state_ == WorkerState::kReady ? WorkerState::kReady : WorkerState::kCrashed;
}

int Supervisor::pid() const {
  absl::MutexLock lock(&mu_);
  for (const auto& slot : slots_) {
    if (!slot->dead && !slot->draining) return slot->worker->pid();
  }
  return 0;
}

std::string Supervisor::worker_id() const {
  absl::MutexLock lock(&mu_);
  return current_id_;
}

void Supervisor::StatsLocked(PoolStats* stats_out) const {
  PoolStats& stats = *stats_out;
  stats.workers_spawned = counters_.workers_spawned;
  stats.workers_crashed = counters_.workers_crashed;
  stats.workers_recycled = counters_.workers_recycled;
  for (const auto& slot : slots_) {
    if (slot->dead || slot->draining) continue;
    ++stats.workers;
    if (slot->worker != nullptr && slot->worker->streaming()) ++stats.workers_streaming;
    if (slot->worker != nullptr && slot->worker->native()) ++stats.workers_native;
    if (slot->in_flight > 0) {
      ++stats.workers_busy;
    } else {
      ++stats.workers_idle;
    }
    stats.calls_in_flight += slot->in_flight;
  }
  stats.workers_starting = starting_;
  spares_.StatsLocked(&stats);
}

void Supervisor::CountCrashLocked(const std::optional<WorkerCrash>& crash) {
  const WorkerCrash::Cause cause = crash ? crash->cause() : WorkerCrash::CAUSE_UNSPECIFIED;
  ++crashes_by_cause_[cause == WorkerCrash::CAUSE_UNSPECIFIED
                          ? std::string("unknown")
                          : absl::AsciiStrToLower(WorkerCrash::Cause_Name(cause))];
  if (crash && crash->has_exit_code()) ++crashes_by_exit_code_[crash->exit_code()];
  if (crash && crash->has_signal()) ++crashes_by_signal_[crash->signal()];
}

void Supervisor::Metrics(HostMetrics* out, absl::Duration usage_max_age) const {
  // Workers whose /proc reading is due, read without the lock.
  std::vector<std::pair<std::shared_ptr<Slot>, int>> due;
  const absl::Time now = absl::Now();
  {
    absl::MutexLock lock(&mu_);
    for (const auto& slot : slots_) {
      if (slot->dead || slot->worker == nullptr) continue;
      if (now - slot->usage_read_at < usage_max_age) continue;
      if (int pid = slot->worker->pid(); pid > 0) due.emplace_back(slot, pid);
    }
    spares_.ForEachLocked([&](const std::shared_ptr<Slot>& slot) {
      if (now - slot->usage_read_at < usage_max_age) return;
      if (int pid = slot->worker->pid(); pid > 0) due.emplace_back(slot, pid);
    });
  }
  std::vector<std::optional<ProcessUsage>> readings;
  readings.reserve(due.size());
  for (const auto& [slot, pid] : due) readings.push_back(ReadProcessUsage(pid));
  const absl::Time read_at = absl::Now();

  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < due.size(); ++i) {
    if (!readings[i]) continue;  // gone meanwhile: keep the last reading
    due[i].first->usage = *readings[i];
    due[i].first->usage_read_at = read_at;
  }
  PoolMetrics& pool = out->pool;
  pool.spawn_failures = spawn_failures_;
  pool.crashes_by_cause = crashes_by_cause_;
  pool.crashes_by_exit_code = crashes_by_exit_code_;
  pool.crashes_by_signal = crashes_by_signal_;
  pool.workers_crashed = 0;
  for (const auto& [cause, count] : crashes_by_cause_) pool.workers_crashed += count;

  auto describe = [](const Slot& slot, WorkerMetrics::Role role) {
    WorkerMetrics worker;
    worker.worker_id = slot.id;
    worker.pid = slot.worker != nullptr ? slot.worker->pid() : 0;
    worker.role = role;
    worker.calls_in_flight = slot.in_flight;
    worker.calls_served = slot.calls_done;
    worker.ready_since = slot.born;
    if (slot.usage_read_at != absl::InfinitePast()) {
      worker.rss_bytes = slot.usage.rss_bytes;
      worker.cpu_user = slot.usage.cpu_user;
      worker.cpu_system = slot.usage.cpu_system;
      worker.usage_read_at = slot.usage_read_at;
    }
    return worker;
  };
  for (const auto& slot : slots_) {
    if (slot->dead || slot->draining) {
      ++pool.workers_draining;
      if (slot->dead) continue;
      out->workers.push_back(describe(*slot, WorkerMetrics::Role::kDraining));
      continue;
    }
    out->workers.push_back(describe(
        *slot, slot->recycling ? WorkerMetrics::Role::kRecycling : WorkerMetrics::Role::kServing));
  }
  spares_.ForEachLocked([&](const std::shared_ptr<Slot>& slot) {
    out->workers.push_back(describe(*slot, WorkerMetrics::Role::kSpare));
  });
  std::stable_sort(
      out->workers.begin(), out->workers.end(),
      [](const WorkerMetrics& a, const WorkerMetrics& b) { return a.ready_since < b.ready_since; });
}

}  // namespace iw::internal
