#include "runtime/host/output_capture.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "runtime/logging.h"

namespace iw::internal {

absl::StatusOr<std::unique_ptr<OutputCapture>> OutputCapture::Create(OutputMode mode,
                                                                     int forward_fd) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return absl::ErrnoToStatus(errno, "pipe2()");
  UniqueFd read_end(fds[0]), write_end(fds[1]);
  UniqueFd stop(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop.valid()) return absl::ErrnoToStatus(errno, "eventfd()");
  return std::unique_ptr<OutputCapture>(new OutputCapture(mode, forward_fd, std::move(read_end),
                                                          std::move(write_end), std::move(stop)));
}

OutputCapture::OutputCapture(OutputMode mode, int forward_fd, UniqueFd read_end, UniqueFd write_end,
                             UniqueFd stop)
    : mode_(mode),
      forward_fd_(forward_fd),
      read_end_(std::move(read_end)),
      write_end_(std::move(write_end)),
      stop_(std::move(stop)) {}

OutputCapture::~OutputCapture() {
  if (thread_.joinable()) {
    uint64_t one = 1;
    ssize_t ignored = ::write(stop_.get(), &one, sizeof(one));
    (void)ignored;
    thread_.join();
  }
}

void OutputCapture::Start(std::string worker_id, Logger logger) {
  worker_id_ = std::move(worker_id);
  logger_ = std::move(logger);
  write_end_.reset();
  thread_ = std::thread([this] { Loop(); });
}

void OutputCapture::Loop() {
  char buffer[4096];
  while (true) {
    struct pollfd fds[2] = {{read_end_.get(), POLLIN, 0}, {stop_.get(), POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (fds[1].revents != 0 && fds[0].revents == 0) break;
    ssize_t n = ::read(read_end_.get(), buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (mode_ == OutputMode::kInherit) {
      ssize_t ignored = ::write(forward_fd_, buffer, n);
      (void)ignored;
    }
    absl::MutexLock lock(&mu_);
    partial_.append(buffer, n);
    size_t newline;
    while ((newline = partial_.find('\n')) != std::string::npos) {
      std::string line = partial_.substr(0, newline);
      partial_.erase(0, newline + 1);
      TakeLine(std::move(line));
    }
    if (partial_.size() > kTailBytes) TakeLine(std::exchange(partial_, ""));
  }
  absl::MutexLock lock(&mu_);
  if (!partial_.empty()) TakeLine(std::exchange(partial_, ""));
  ended_ = true;
}

void OutputCapture::TakeLine(std::string line) {
  if (mode_ == OutputMode::kCapture) {
    logger_.Log(LogLevel::kInfo, worker_id_,
                absl::StrCat(forward_fd_ == 1 ? "stdout: " : "stderr: ", line));
  }
  if (line.size() > kTailBytes) line = line.substr(line.size() - kTailBytes);
  tail_.push_back(std::move(line));
  while (tail_.size() > static_cast<size_t>(kTailLines)) tail_.pop_front();
}

std::string OutputCapture::Tail(absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  auto ended = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return ended_; };
  mu_.AwaitWithDeadline(absl::Condition(&ended), deadline);
  std::string tail = absl::StrJoin(tail_, "\n");
  if (tail.size() > kTailBytes) tail = tail.substr(tail.size() - kTailBytes);
  return tail;
}

}  // namespace iw::internal
