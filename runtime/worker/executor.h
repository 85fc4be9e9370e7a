// FOR INTERNAL USE. The worker's handler threads.
#ifndef IW_RUNTIME_WORKER_EXECUTOR_H_
#define IW_RUNTIME_WORKER_EXECUTOR_H_

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "absl/time/time.h"

namespace iw::internal {

// A bounded pool of threads running tasks in FIFO order. Thread-safe.
//
// Threads start on demand, up to `threads`: a task submitted while no thread
// is idle starts one (until the bound), so a worker starts no handler thread
// before its first call and only as many as its calls ever ran at once
// (docs/startup-notes.md, 2026-12-02). Started threads stay until
// destruction; they are named "iw-handler". A submitted task wakes at most one idle thread, the
// most recently idle one (its stack and caches are warm); a batch wakes at most one per task. It
// uses std::mutex rather than absl::Mutex: absl's contended path calibrates
// the CPU frequency with sleeps on first use (milliseconds on VMs without
// tsc_freq_khz), which a worker's first call would wait for.
class Executor {
 public:
  // Runs at most `threads` tasks at once; starts no thread yet.
  explicit Executor(int threads);
  // Runs every task already submitted, then joins the threads.
  ~Executor();
  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  void Submit(std::function<void()> task);
  // Submits every task of `tasks` (emptied) under one lock.
  void SubmitAll(std::vector<std::function<void()>>* tasks);
  // Waits until no task is queued or running; false if `deadline` passed.
  bool WaitIdle(absl::Time deadline);
  // How many threads it has started so far (at most `threads`).
  int started_threads();

 private:
  struct IdleThread {
    std::condition_variable wake;
    bool woken = false;
  };
  void Loop();
  // Wakes up to `n` idle threads, and starts threads (within the bound,
  // unless stopping) for the tasks no idle thread takes. Called with mu_
  // held.
  void WakeLocked(size_t n);

  const size_t max_threads_;
  std::mutex mu_;
  std::condition_variable idle_;  // WaitIdle()
  std::deque<std::function<void()>> queue_;
  std::vector<IdleThread*> idle_threads_;  // LIFO
  int running_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;  // guarded by mu_ until stopping_
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_WORKER_EXECUTOR_H_
