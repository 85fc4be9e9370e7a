#include "runtime/common/stream_state.h"

#include <algorithm>
#include <utility>

namespace iw::internal {

StreamState::Push StreamState::PushMessage(StreamMessage message) {
  absl::MutexLock lock(&mu_);
  if (ended_ || end_of_input_) return Push::kEnded;
  if (static_cast<int>(queue_.size()) >= window_) return Push::kOverWindow;
  queue_.push_back(std::move(message));
  return Push::kQueued;
}

void StreamState::PushEndOfInput() {
  absl::MutexLock lock(&mu_);
  end_of_input_ = true;
}

StreamState::Next StreamState::Pop(absl::Time deadline, StreamMessage* message) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !queue_.empty() || end_of_input_ || ended_;
  };
  if (!mu_.AwaitWithDeadline(absl::Condition(&ready), deadline)) return Next::kDeadline;
  if (!queue_.empty()) {
    *message = std::move(queue_.front());
    queue_.pop_front();
    return Next::kMessage;
  }
  return ended_ ? Next::kEnded : Next::kEndOfInput;
}

void StreamState::AddCredit(int n) {
  absl::MutexLock lock(&mu_);
  // Never more than a window: a peer that grants more (repeating credit
  // frames) gains nothing, and the count cannot overflow.
  credit_ = std::min(credit_ + std::min(n, window_), window_);
}

StreamState::Credit StreamState::TakeCredit(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return credit_ > 0 || ended_; };
  if (!mu_.AwaitWithDeadline(absl::Condition(&ready), deadline)) return Credit::kDeadline;
  if (ended_) return Credit::kEnded;
  --credit_;
  return Credit::kGranted;
}

bool StreamState::End(absl::Status status, bool keep_queued) {
  absl::MutexLock lock(&mu_);
  if (ended_) return false;
  ended_ = true;
  status_ = std::move(status);
  if (!keep_queued) queue_.clear();
  return true;
}

bool StreamState::ended() const {
  absl::MutexLock lock(&mu_);
  return ended_;
}

absl::Status StreamState::status() const {
  absl::MutexLock lock(&mu_);
  return status_;
}

bool StreamState::AwaitEnd(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto ended = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return ended_; };
  return mu_.AwaitWithDeadline(absl::Condition(&ended), deadline);
}

}  // namespace iw::internal
