// FOR INTERNAL USE. Reads one output stream of a worker (its stderr, or its
// stdout in capture mode) from a pipe on a thread of its own: forwards or
// logs each line according to the OutputMode, and keeps the last lines for
// crash reports.
#ifndef IW_RUNTIME_HOST_OUTPUT_CAPTURE_H_
#define IW_RUNTIME_HOST_OUTPUT_CAPTURE_H_

#include <deque>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "runtime/logging.h"
#include "runtime/options.h"
#include "runtime/process/unique_fd.h"

namespace iw::internal {

class OutputCapture {
 public:
  // Lines and bytes of the tail kept for crash reports.
  static constexpr int kTailLines = 10;
  static constexpr size_t kTailBytes = 2048;

  // `forward_fd`: where kInherit copies the bytes (1 or 2).
  static absl::StatusOr<std::unique_ptr<OutputCapture>> Create(OutputMode mode, int forward_fd);
  ~OutputCapture();

  // The pipe's write end, to hand to the child.
  int child_fd() const { return write_end_.get(); }
  // Closes the write end (after the child has it) and starts reading.
  // OutputMode::kCapture lines go to `logger`.
  void Start(std::string worker_id, Logger logger = Logger());
  // Waits until the stream ends (every writer closed it) or `deadline`, then
  // returns the last lines ("" if none).
  std::string Tail(absl::Time deadline);

 private:
  OutputCapture(OutputMode mode, int forward_fd, UniqueFd read_end, UniqueFd write_end,
                UniqueFd stop);
  void Loop();
  void TakeLine(std::string line) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const OutputMode mode_;
  const int forward_fd_;
  UniqueFd read_end_;
  UniqueFd write_end_;
  UniqueFd stop_;  // eventfd: stop reading even if a grandchild holds the pipe
  std::string worker_id_;
  Logger logger_;  // set by Start(), before the thread
  std::thread thread_;

  absl::Mutex mu_;
  std::string partial_ ABSL_GUARDED_BY(mu_);
  std::deque<std::string> tail_ ABSL_GUARDED_BY(mu_);
  bool ended_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_HOST_OUTPUT_CAPTURE_H_
