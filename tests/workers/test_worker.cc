// A worker serving iwtest.TestService, used by the end-to-end tests.
#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <stdexcept>

#include "absl/time/clock.h"
#include "tests/workers/test_service.iw.h"

namespace {

class TestHandler final : public iwtest::TestServiceHandler {
 public:
  absl::StatusOr<iwtest::EchoReply> Echo(iw::CallContext&,
                                         const iwtest::EchoRequest& request) override {
    iwtest::EchoReply reply;
    reply.set_text(request.text());
    reply.set_payload(request.payload());
    reply.set_pid(::getpid());
    return reply;
  }

  absl::StatusOr<iwtest::SleepReply> Sleep(iw::CallContext& context,
                                           const iwtest::SleepRequest& request) override {
    iwtest::SleepReply reply;
    reply.set_tag(request.tag());
    reply.set_deadline_left_ms(
        context.deadline() == absl::InfiniteFuture()
            ? -1
            : absl::ToInt64Milliseconds(context.deadline() - absl::Now()));
    absl::Time end = absl::Now() + absl::Milliseconds(request.ms());
    while (absl::Now() < end) {
      if (context.IsCancelled()) {
        reply.set_saw_cancelled(true);
        if (request.stop_when_cancelled()) break;
      }
      absl::SleepFor(absl::Milliseconds(1));
    }
    return reply;
  }

  absl::StatusOr<iwtest::CrashReply> Crash(iw::CallContext&,
                                           const iwtest::CrashRequest& request) override {
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

  absl::StatusOr<iwtest::FailReply> Fail(iw::CallContext&,
                                         const iwtest::FailRequest& request) override {
    if (request.throw_exception()) throw std::runtime_error(request.message());
    return absl::Status(static_cast<absl::StatusCode>(request.code()), request.message());
  }
};

}  // namespace

int main(int argc, char** argv) {
  TestHandler handler;
  return iwtest::RunTestServiceWorker(argc, argv, handler);
}
