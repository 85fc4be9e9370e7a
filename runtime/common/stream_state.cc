#include "runtime/common/stream_state.h"

#include <algorithm>
#include <utility>

namespace iw::internal {

StreamState::Push StreamState::PushMessage(StreamMessage message) {
  absl::MutexLock lock(&mu_);
  if (ended_ || end_of_input_) return Push::kEnded;
  // What the peer sent that this end has not given credit for yet: unread,
  // or read in a batch not granted yet. The peer's own count is at least
  // as high (grants in flight), so beyond the sender's rule is a violation
  // even while the reader keeps up.
  if (ungranted_.messages >= window_ || ungranted_.bytes >= window_bytes_ / 2) {
    return Push::kOverWindow;
  }
  ++ungranted_.messages;
  ungranted_.bytes += message.bytes.size();
  queued_bytes_ += message.bytes.size();
  queue_.push_back(std::move(message));
  return Push::kQueued;
}

void StreamState::PushEndOfInput() {
  absl::MutexLock lock(&mu_);
  end_of_input_ = true;
}

StreamState::Next StreamState::Pop(absl::Time deadline, StreamMessage* message, Grant* grant) {
  *grant = Grant();
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return !queue_.empty() || end_of_input_ || ended_;
  };
  if (!mu_.AwaitWithDeadline(absl::Condition(&ready), deadline)) return Next::kDeadline;
  if (!queue_.empty()) {
    *message = std::move(queue_.front());
    queue_.pop_front();
    queued_bytes_ -= message->bytes.size();
    ++consumed_.messages;
    consumed_.bytes += message->bytes.size();
    // A sender waits for credit only with a full window of messages, or
    // with half the byte window unread: either completes a batch here.
    if (consumed_.messages >= window_ / 2 || consumed_.bytes >= window_bytes_ / 4) {
      *grant = std::exchange(consumed_, Grant());
      ungranted_.messages -= grant->messages;
      ungranted_.bytes -= grant->bytes;
    }
    return Next::kMessage;
  }
  return ended_ ? Next::kEnded : Next::kEndOfInput;
}

void StreamState::AddCredit(int n) {
  absl::MutexLock lock(&mu_);
  // A peer that grants more than was sent (repeating credit frames) gains
  // nothing.
  for (; n > 0 && !unacknowledged_.empty(); --n) {
    unacknowledged_bytes_ -= unacknowledged_.front();
    unacknowledged_.pop_front();
  }
}

StreamState::Credit StreamState::TakeCredit(absl::Time deadline, size_t size) {
  absl::MutexLock lock(&mu_);
  // Half the byte window: the reader grants every quarter of it, so a
  // sender blocked here is always unblocked by the reader reading on.
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return ended_ || (static_cast<int>(unacknowledged_.size()) < window_ &&
                      unacknowledged_bytes_ < window_bytes_ / 2);
  };
  if (!mu_.AwaitWithDeadline(absl::Condition(&ready), deadline)) return Credit::kDeadline;
  if (ended_) return Credit::kEnded;
  unacknowledged_.push_back(size);
  unacknowledged_bytes_ += size;
  return Credit::kGranted;
}

bool StreamState::End(absl::Status status, bool keep_queued) {
  absl::MutexLock lock(&mu_);
  if (ended_) return false;
  ended_ = true;
  status_ = std::move(status);
  if (!keep_queued) {
    queue_.clear();
    queued_bytes_ = 0;
  }
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
