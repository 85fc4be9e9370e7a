// -----------------------------------------------------------------------------
// File: process/unique_fd.h
// -----------------------------------------------------------------------------
//
// `UniqueFd` owns one file descriptor and closes it on destruction. Every fd
// the runtime creates is O_CLOEXEC, so none leaks into a spawned worker except
// the ones the spawner maps explicitly.

#ifndef IW_RUNTIME_PROCESS_UNIQUE_FD_H_
#define IW_RUNTIME_PROCESS_UNIQUE_FD_H_

#include <unistd.h>

#include <utility>

namespace iw::internal {

// Move-only owner of a file descriptor. Thread-compatible.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept {
    reset(other.release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd() { reset(); }

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  // Gives up ownership without closing.
  [[nodiscard]] int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_ = -1;
};

}  // namespace iw::internal

#endif  // IW_RUNTIME_PROCESS_UNIQUE_FD_H_
