#include "runtime/transport/frame_socket.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace iw::internal {
namespace {

// Frames of at most this size (header included) are read in chunks of it and
// copied out; larger ones are read straight into their own storage.
constexpr size_t kReadChunk = 64 << 10;
// iovecs per writev().
constexpr int kMaxIovecs = 64;

// writev() that never raises SIGPIPE (the host is the user's process: we do
// not get to ignore SIGPIPE there).
ssize_t SendV(int fd, struct iovec* iov, int count) {
  struct msghdr message;
  std::memset(&message, 0, sizeof(message));
  message.msg_iov = iov;
  message.msg_iovlen = static_cast<size_t>(count);
  return ::sendmsg(fd, &message, MSG_NOSIGNAL);
}

}  // namespace

FrameSocket::FrameSocket(UniqueFd fd) : fd_(std::move(fd)) {
  const int flags = ::fcntl(fd_.get(), F_GETFL);
  if (flags >= 0) ::fcntl(fd_.get(), F_SETFL, flags | O_NONBLOCK);
}

FrameSocket::WriteResult FrameSocket::Write(FrameBuffer* frames, std::string* tail) {
  mu_.Lock();
  if (!error_.ok() || close_writes_) {
    mu_.Unlock();
    return WriteResult::kBroken;
  }
  if (writing_ || blocked_ || !queue_.empty()) {
    Chunk chunk;
    chunk.frames = std::move(*frames);
    if (tail != nullptr) chunk.tail = std::move(*tail);
    queue_.push_back(std::move(chunk));
    const WriteResult result = blocked_ ? WriteResult::kBlocked : WriteResult::kQueued;
    mu_.Unlock();
    return result;
  }
  // The socket is idle: write from the caller's own buffers.
  writing_ = true;
  mu_.Unlock();
  const size_t tail_size = tail == nullptr ? 0 : tail->size();
  const size_t total = frames->size() + tail_size;
  size_t written = 0;
  int error = 0;
  while (written < total) {
    struct iovec iov[2];
    int count = 0;
    if (written < frames->size()) {
      iov[count++] = {frames->data() + written, frames->size() - written};
      if (tail_size > 0) iov[count++] = {tail->data(), tail_size};
    } else {
      const size_t at = written - frames->size();
      iov[count++] = {tail->data() + at, tail_size - at};
    }
    const ssize_t n = SendV(fd_.get(), iov, count);
    if (n < 0) {
      if (errno == EINTR) continue;
      error = errno;
      break;
    }
    written += static_cast<size_t>(n);
  }
  mu_.Lock();
  if (error != 0 && error != EAGAIN && error != EWOULDBLOCK) {
    BreakLocked(absl::ErrnoToStatus(error, "write to the worker connection"));
    writing_ = false;
    mu_.Unlock();
    return WriteResult::kBroken;
  }
  if (written < total) {
    Chunk chunk;
    chunk.frames = std::move(*frames);
    if (tail != nullptr) chunk.tail = std::move(*tail);
    chunk.offset = written;
    queue_.push_front(std::move(chunk));
  } else {
    frames->clear();
  }
  const WriteResult result = WriteQueueLocked();
  mu_.Unlock();
  return result;
}

FrameSocket::WriteResult FrameSocket::Flush() {
  absl::MutexLock lock(&mu_);
  if (!error_.ok()) return WriteResult::kBroken;
  if (writing_) return WriteResult::kQueued;
  blocked_ = false;
  writing_ = true;
  return WriteQueueLocked();
}

FrameSocket::WriteResult FrameSocket::WriteQueueLocked() {
  while (!queue_.empty()) {
    struct iovec iov[kMaxIovecs];
    int count = 0;
    for (auto it = queue_.begin(); it != queue_.end() && count + 2 <= kMaxIovecs; ++it) {
      size_t skip = it->offset;
      if (skip < it->frames.size()) {
        iov[count++] = {it->frames.data() + skip, it->frames.size() - skip};
        skip = 0;
      } else {
        skip -= it->frames.size();
      }
      if (skip < it->tail.size()) iov[count++] = {it->tail.data() + skip, it->tail.size() - skip};
    }
    // Chunks pushed meanwhile keep their addresses (deque::push_back), and
    // only this thread removes chunks.
    mu_.Unlock();
    ssize_t n = SendV(fd_.get(), iov, count);
    const int error = n < 0 ? errno : 0;
    mu_.Lock();
    if (n < 0) {
      if (error == EINTR) continue;
      writing_ = false;
      if (error == EAGAIN || error == EWOULDBLOCK) {
        blocked_ = true;
        return WriteResult::kBlocked;
      }
      BreakLocked(absl::ErrnoToStatus(error, "write to the worker connection"));
      return WriteResult::kBroken;
    }
    size_t left = static_cast<size_t>(n);
    while (left > 0) {
      Chunk& front = queue_.front();
      const size_t rest = front.size() - front.offset;
      if (left < rest) {
        front.offset += left;
        break;
      }
      left -= rest;
      queue_.pop_front();
    }
  }
  writing_ = false;
  if (close_writes_ && !writes_closed_) {
    writes_closed_ = true;
    ::shutdown(fd_.get(), SHUT_WR);
  }
  return WriteResult::kDone;
}

bool FrameSocket::blocked() const {
  absl::MutexLock lock(&mu_);
  return blocked_;
}

absl::Status FrameSocket::error() const {
  absl::MutexLock lock(&mu_);
  return error_;
}

void FrameSocket::CloseWrites() {
  absl::MutexLock lock(&mu_);
  close_writes_ = true;
  if (!writing_ && queue_.empty() && !writes_closed_) {
    writes_closed_ = true;
    ::shutdown(fd_.get(), SHUT_WR);
  }
}

void FrameSocket::BreakLocked(absl::Status why) {
  if (error_.ok()) error_ = std::move(why);
  queue_.clear();
  blocked_ = false;
}

absl::Status FrameSocket::Read(size_t max_body, std::vector<InFrame>* frames) {
  in_.Reserve(kReadChunk);
  while (true) {
    if (large_) {
      const size_t want = large_frame_.storage.size() - large_have_;
      const ssize_t n = ::read(fd_.get(), large_frame_.storage.data() + large_have_, want);
      if (n < 0) {
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return absl::OkStatus();
        return absl::ErrnoToStatus(errno, "read from the connection");
      }
      if (n == 0) {
        return absl::UnavailableError(absl::StrCat("connection closed in the middle of a ",
                                                   FrameKindName(large_frame_.kind), " frame"));
      }
      large_have_ += static_cast<size_t>(n);
      if (large_have_ < large_frame_.storage.size()) continue;
      frames->push_back(std::move(large_frame_));
      large_frame_ = InFrame();
      large_ = false;
      continue;
    }
    const size_t had = in_.size();
    const size_t room = in_.capacity() - had;
    const ssize_t n = ::read(fd_.get(), in_.data() + had, room);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) return absl::OkStatus();
      return absl::ErrnoToStatus(errno, "read from the connection");
    }
    if (n == 0) {
      if (had > 0) {
        return absl::UnavailableError(absl::StrCat("connection closed in the middle of a frame (",
                                                   had, " bytes of it arrived)"));
      }
      return absl::UnavailableError("connection closed");
    }
    in_.SetSize(had + static_cast<size_t>(n));
    size_t pos = 0;
    while (in_.size() - pos >= kFrameHeaderBytes) {
      absl::StatusOr<FrameHeader> header = ParseFrameHeader(in_.data() + pos, max_body);
      if (!header.ok()) return header.status();
      const size_t available = in_.size() - pos - kFrameHeaderBytes;
      const char* body = in_.data() + pos + kFrameHeaderBytes;
      if (header->body_size <= available) {
        InFrame frame;
        frame.kind = header->kind;
        if (header->body_size > 0) {
          std::memcpy(frame.storage.Extend(header->body_size), body, header->body_size);
        }
        frames->push_back(std::move(frame));
        pos += kFrameHeaderBytes + header->body_size;
        continue;
      }
      if (kFrameHeaderBytes + header->body_size > kReadChunk) {
        // Large: the rest of its body goes straight into its own storage.
        large_frame_.kind = header->kind;
        std::memcpy(large_frame_.storage.Extend(header->body_size), body, available);
        large_have_ = available;
        large_ = true;
        pos = in_.size();
      }
      break;
    }
    in_.Consume(pos);
    // A short read drained the socket: save a read() that would say EAGAIN.
    if (static_cast<size_t>(n) < room && !large_) return absl::OkStatus();
  }
}

}  // namespace iw::internal
