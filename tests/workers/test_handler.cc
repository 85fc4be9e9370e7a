#include "tests/workers/test_handler.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/worker_crash.h"

namespace iwtest {

absl::StatusOr<iwtest::EchoReply> TestHandler::Echo(iw::CallContext& context,
                                                    const iwtest::EchoRequest& request) {
  iwtest::EchoReply reply;
  reply.set_text(request.text());
  reply.set_payload(request.payload());
  reply.set_pid(::getpid());
  reply.set_deadline_left_ms(absl::ToInt64Milliseconds(context.deadline() - absl::Now()));
  if (request.request_recycle()) context.RequestRecycle();
  return reply;
}

absl::StatusOr<iwtest::EchoReply> TestHandler::EchoInline(iw::CallContext& context,
                                                          const iwtest::EchoRequest& request) {
  absl::StatusOr<iwtest::EchoReply> reply = Echo(context, request);
  char name[32] = {};
  ::pthread_getname_np(::pthread_self(), name, sizeof(name));
  if (reply.ok()) reply->set_text(absl::StrCat(reply->text(), "|", name));
  return reply;
}

absl::StatusOr<iwtest::SleepReply> TestHandler::Sleep(iw::CallContext& context,
                                                      const iwtest::SleepRequest& request) {
  iwtest::SleepReply reply;
  reply.set_tag(request.tag());
  reply.set_pid(::getpid());
  reply.set_deadline_left_ms(context.deadline() == absl::InfiniteFuture()
                                 ? -1
                                 : absl::ToInt64Milliseconds(context.deadline() - absl::Now()));
  if (!request.started_marker().empty()) {
    int fd = ::open(request.started_marker().c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    if (fd >= 0) ::close(fd);
  }
  absl::Time end = absl::Now() + absl::Milliseconds(request.ms());
  while (absl::Now() < end) {
    if (!request.until_exists().empty() && ::access(request.until_exists().c_str(), F_OK) == 0) {
      break;
    }
    if (context.IsCancelled()) {
      reply.set_saw_cancelled(true);
      if (request.stop_when_cancelled()) break;
    }
    absl::SleepFor(absl::Milliseconds(1));
  }
  return reply;
}

absl::StatusOr<iwtest::CrashReply> TestHandler::Crash(iw::CallContext&,
                                                      const iwtest::CrashRequest& request) {
  if (!request.crash_once_marker().empty()) {
    int fd = ::open(request.crash_once_marker().c_str(), O_CREAT | O_EXCL | O_WRONLY, 0600);
    if (fd < 0) return iwtest::CrashReply();  // crashed once already
    ::close(fd);
  }
  if (!request.last_words().empty()) {
    std::fprintf(stderr, "%s\n", request.last_words().c_str());
    std::fflush(stderr);
  }
  if (request.signal() != 0) {
    ::signal(request.signal(), SIG_DFL);
    ::raise(request.signal());
  }
  ::_exit(request.exit_code());
}

absl::StatusOr<iwtest::FailReply> TestHandler::Fail(iw::CallContext&,
                                                    const iwtest::FailRequest& request) {
  if (request.throw_exception()) throw std::runtime_error(request.message());
  absl::Status status(static_cast<absl::StatusCode>(request.code()), request.message());
  if (request.attach_worker_crash()) {
    iw::WorkerCrash forged;
    forged.set_cause(iw::WorkerCrash::KILLED_BY_SIGNAL);
    forged.set_signal(9);
    iw::AttachDetails(status, forged);
  }
  return status;
}

absl::StatusOr<iwtest::GetEnvReply> TestHandler::GetEnv(iw::CallContext&,
                                                        const iwtest::GetEnvRequest& request) {
  iwtest::GetEnvReply reply;
  if (const char* value = std::getenv(request.name().c_str())) {
    reply.set_set(true);
    reply.set_value(value);
  }
  return reply;
}

absl::StatusOr<iwtest::SpinReply> TestHandler::Spin(iw::CallContext& context,
                                                    const iwtest::SpinRequest& request) {
  const absl::Time end =
      absl::Now() + absl::Milliseconds(request.max_ms() > 0 ? request.max_ms() : 30000);
  volatile uint64_t sink = 0;
  while (!context.IsCancelled() && absl::Now() < end) {
    for (int i = 0; i < 1000000; ++i) sink = sink + i;
  }
  return iwtest::SpinReply();
}

absl::StatusOr<iwtest::AllocateReply> TestHandler::Allocate(
    iw::CallContext&, const iwtest::AllocateRequest& request) {
  const size_t bytes = static_cast<size_t>(request.bytes());
  iwtest::AllocateReply reply;
  if (request.abort_on_failure()) {
    void* memory = std::malloc(bytes);
    if (memory == nullptr) std::abort();
    std::memset(memory, 1, bytes);
    asm volatile("" : : "r"(memory) : "memory");  // keep the allocation
    std::free(memory);
  } else {
    // Throws std::bad_alloc when the address-space limit is reached.
    std::unique_ptr<char[]> memory(new char[bytes]);
    std::memset(memory.get(), 1, bytes);
    asm volatile("" : : "r"(memory.get()) : "memory");  // keep the allocation
  }
  reply.set_allocated(true);
  return reply;
}

absl::StatusOr<iwtest::OpenFilesReply> TestHandler::OpenFiles(
    iw::CallContext&, const iwtest::OpenFilesRequest& request) {
  iwtest::OpenFilesReply reply;
  std::vector<int> fds;
  for (int i = 0; i < request.count(); ++i) {
    int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
      reply.set_error(::strerror(errno));
      break;
    }
    fds.push_back(fd);
  }
  reply.set_opened(static_cast<int>(fds.size()));
  for (int fd : fds) ::close(fd);
  return reply;
}

absl::Status TestHandler::Count(iw::CallContext& /*context*/, const iwtest::CountRequest& request,
                                iw::StreamWriter<iwtest::CountReply>& writer) {
  const std::string payload(static_cast<size_t>(std::max<int64_t>(request.payload_bytes(), 0)),
                            'p');
  if (!request.crash_once_marker().empty() &&
      ::access(request.crash_once_marker().c_str(), F_OK) != 0) {
    int fd = ::open(request.crash_once_marker().c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
    if (fd >= 0) ::close(fd);
    std::_Exit(3);
  }
  for (int i = 0;; ++i) {
    // The pause comes before the checks, so replies written before a crash
    // or a failure have had `interval_ms` to reach the host.
    if (i > 0 && request.interval_ms() > 0) {
      absl::SleepFor(absl::Milliseconds(request.interval_ms()));
    }
    if (request.fail_after() > 0 && i == request.fail_after()) {
      return absl::Status(static_cast<absl::StatusCode>(request.fail_code()),
                          absl::StrCat("failed after ", i));
    }
    if (request.crash_after() > 0 && i == request.crash_after()) std::_Exit(3);
    if (!request.until_cancelled() && i >= request.count()) return absl::OkStatus();
    iwtest::CountReply reply;
    reply.set_text(absl::StrCat(request.text(), " #", i));
    reply.set_index(i);
    reply.set_payload(payload);
    if (!writer.Write(reply)) {
      // Nobody reads any more: the host cancelled, went away or the deadline
      // passed (or the reply was over the size limit).
      if (!request.cancelled_marker().empty()) {
        int fd = ::open(request.cancelled_marker().c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
        if (fd >= 0) ::close(fd);
      }
      return absl::CancelledError(absl::StrCat("stopped after ", i));
    }
  }
}

absl::StatusOr<iwtest::SumReply> TestHandler::Sum(iw::CallContext& context,
                                                  iw::StreamReader<iwtest::Chunk>& reader) {
  iwtest::SumReply reply;
  for (iwtest::Chunk chunk; reader.Read(&chunk); chunk.Clear()) {
    if (chunk.fail()) {
      return absl::InvalidArgumentError(absl::StrCat("chunk ", reply.chunks(), " is bad"));
    }
    reply.set_chunks(reply.chunks() + 1);
    reply.set_bytes(reply.bytes() + static_cast<int64_t>(chunk.data().size()));
  }
  // Read() is also false when the stream ended early: no reply for that.
  if (context.IsCancelled()) {
    return absl::CancelledError(absl::StrCat("cancelled after ", reply.chunks(), " chunks"));
  }
  return reply;
}

absl::Status TestHandler::Chat(iw::CallContext& context, iw::StreamReader<iwtest::ChatLine>& reader,
                               iw::StreamWriter<iwtest::ChatLine>& writer) {
  for (iwtest::ChatLine line; reader.Read(&line); line.Clear()) {
    if (line.text() == "crash") std::_Exit(3);
    iwtest::ChatLine reply;
    reply.set_text(absl::AsciiStrToUpper(line.text()));
    reply.set_seq(line.seq());
    if (!writer.Write(reply)) {
      return absl::CancelledError(absl::StrCat("stopped at line ", line.seq()));
    }
  }
  if (context.IsCancelled()) return absl::CancelledError("cancelled");
  return absl::OkStatus();
}

}  // namespace iwtest
