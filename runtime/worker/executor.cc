#include "runtime/worker/executor.h"

#include <pthread.h>

#include <utility>

namespace iw::internal {

Executor::Executor(int threads) : max_threads_(threads > 0 ? threads : 1) {}

Executor::~Executor() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    WakeLocked(idle_threads_.size());
  }
  // No thread starts once stopping_ is set (a task submitted by a running
  // task is run by the threads already there), so threads_ is ours now.
  for (std::thread& thread : threads_) thread.join();
}

void Executor::WakeLocked(size_t n) {
  for (; n > 0 && !idle_threads_.empty(); --n) {
    IdleThread* thread = idle_threads_.back();
    idle_threads_.pop_back();
    thread->woken = true;
    // Under the lock: the thread cannot see `woken`, run, exit and destroy
    // its IdleThread before this returns.
    thread->wake.notify_one();
  }
  // Under the lock too (rare: at most max_threads_ times in the executor's
  // life): the new thread takes the lock before it looks at the queue.
  for (; n > 0 && !stopping_ && threads_.size() < max_threads_; --n) {
    threads_.emplace_back([this] { Loop(); });
  }
}

void Executor::Submit(std::function<void()> task) {
  std::lock_guard<std::mutex> lock(mu_);
  queue_.push_back(std::move(task));
  WakeLocked(1);
}

void Executor::SubmitAll(std::vector<std::function<void()>>* tasks) {
  if (tasks->empty()) return;
  std::lock_guard<std::mutex> lock(mu_);
  for (std::function<void()>& task : *tasks) queue_.push_back(std::move(task));
  WakeLocked(tasks->size());
  tasks->clear();
}

bool Executor::WaitIdle(absl::Time deadline) {
  std::unique_lock<std::mutex> lock(mu_);
  auto idle = [this] { return queue_.empty() && running_ == 0; };
  if (deadline == absl::InfiniteFuture()) {
    idle_.wait(lock, idle);
    return true;
  }
  return idle_.wait_until(lock, absl::ToChronoTime(deadline), idle);
}

int Executor::started_threads() {
  std::lock_guard<std::mutex> lock(mu_);
  return static_cast<int>(threads_.size());
}

void Executor::Loop() {
  // Named: a thread started on demand would otherwise inherit the name of
  // the thread that submitted the task (the native carrier's reader, say).
  ::pthread_setname_np(::pthread_self(), "iw-handler");
  IdleThread self;
  std::unique_lock<std::mutex> lock(mu_);
  while (true) {
    if (!queue_.empty()) {
      std::function<void()> task = std::move(queue_.front());
      queue_.pop_front();
      ++running_;
      lock.unlock();
      task();
      task = nullptr;  // destroy captures outside the lock
      lock.lock();
      --running_;
      if (running_ == 0 && queue_.empty()) idle_.notify_all();
      continue;
    }
    if (stopping_) return;  // stopping and drained
    self.woken = false;
    idle_threads_.push_back(&self);
    self.wake.wait(lock, [&self] { return self.woken; });
  }
}

}  // namespace iw::internal
