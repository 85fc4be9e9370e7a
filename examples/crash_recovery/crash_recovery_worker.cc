// The worker process of the crash_recovery example. Crashes with a wild
// pointer write (SIGSEGV) when asked to, after a last word on stderr.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "examples/crash_recovery/crash_recovery.iw.h"

namespace {

using crash_recovery::v1::JobReply;
using crash_recovery::v1::JobRequest;

void MaybeCrash(const JobRequest& request) {
  bool crash = request.crash() == crash_recovery::v1::CRASH_ALWAYS;
  if (request.crash() == crash_recovery::v1::CRASH_ONCE) {
    // O_EXCL: only the first attempt creates the marker (and crashes).
    int fd = ::open(request.once_marker().c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd >= 0) {
      ::close(fd);
      crash = true;
    }
  }
  if (!crash) return;
  std::fprintf(stderr, "job worker %d: bad input \"%s\", about to crash\n", ::getpid(),
               request.input().c_str());
  std::fflush(stderr);
  // What a wild pointer write in a buggy native library ends in. (Raised
  // directly: an actual null write is undefined behaviour, which UBSan
  // builds would report instead of crashing.)
  ::signal(SIGSEGV, SIG_DFL);
  ::raise(SIGSEGV);
}

class Jobs final : public crash_recovery::v1::JobsHandler {
 public:
  absl::StatusOr<JobReply> Convert(iw::CallContext& /*context*/,
                                   const JobRequest& request) override {
    std::fprintf(stderr, "job worker %d: converting \"%s\"\n", ::getpid(), request.input().c_str());
    MaybeCrash(request);
    return Reply(absl::StrCat("converted: ", request.input()));
  }

  absl::StatusOr<JobReply> Commit(iw::CallContext& /*context*/,
                                  const JobRequest& request) override {
    MaybeCrash(request);
    return Reply(absl::StrCat("committed: ", request.input()));
  }

 private:
  static JobReply Reply(std::string output) {
    JobReply reply;
    reply.set_output(std::move(output));
    reply.set_worker_pid(::getpid());
    return reply;
  }
};

}  // namespace

int main(int argc, char** argv) {
  Jobs handler;
  return crash_recovery::v1::RunJobsWorker(argc, argv, handler);
}
