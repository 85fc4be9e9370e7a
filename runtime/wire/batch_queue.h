// FOR INTERNAL USE. The batches waiting behind a call stream's write in
// flight (both ends use one): entries join the last batch until it would
// exceed a byte bound, then a new batch starts. Not thread-safe: the owner
// guards it with its own lock.
#ifndef IW_RUNTIME_WIRE_BATCH_QUEUE_H_
#define IW_RUNTIME_WIRE_BATCH_QUEUE_H_

#include <cstddef>
#include <deque>
#include <utility>

namespace iw::internal {

// Framing of one entry of a repeated field (tag + length prefix), counted
// with each entry's size.
inline constexpr size_t kEntryFraming = 8;

template <typename Batch>
class BatchQueue {
 public:
  explicit BatchQueue(size_t max_batch_bytes) : max_batch_bytes_(max_batch_bytes) {}

  // The batch an entry of `size` bytes (framing included) goes into.
  Batch& For(size_t size) {
    if (batches_.empty() || last_bytes_ + size > max_batch_bytes_) {
      batches_.emplace_back();
      last_bytes_ = 0;
    }
    last_bytes_ += size;
    return batches_.back();
  }

  bool empty() const { return batches_.empty(); }
  size_t max_batch_bytes() const { return max_batch_bytes_; }

  // Removes and returns the oldest batch. Not empty().
  Batch TakeFront() {
    Batch front = std::move(batches_.front());
    batches_.pop_front();
    if (batches_.empty()) last_bytes_ = 0;
    return front;
  }

  void Clear() {
    batches_.clear();
    last_bytes_ = 0;
  }

 private:
  const size_t max_batch_bytes_;
  std::deque<Batch> batches_;
  size_t last_bytes_ = 0;  // of batches_.back()
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_WIRE_BATCH_QUEUE_H_
