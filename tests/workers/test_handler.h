// The iwtest.TestService handler of the end-to-end tests, as a library: the
// test_worker binary serves it in a worker process, and the in-process tests
// serve the same object in the test binary (tests/inprocess).
//
// Do not call Crash, Spin or Allocate (nor Count with crash_after, nor Chat
// with a "crash" line) on an in-process host: they would hurt the test
// process itself.
#ifndef IW_TESTS_WORKERS_TEST_HANDLER_H_
#define IW_TESTS_WORKERS_TEST_HANDLER_H_

#include "tests/workers/test_service.iw.h"

namespace iwtest {

// Every behaviour a test needs (echo, slow, crash, fail, ...). Thread-safe
// (stateless).
class TestHandler final : public TestServiceHandler {
 public:
  absl::StatusOr<iwtest::EchoReply> Echo(iw::CallContext& context,
                                         const iwtest::EchoRequest& request) override;
  // Echo, with the name of the thread it ran on in `text` after a '|'.
  absl::StatusOr<iwtest::EchoReply> EchoInline(iw::CallContext& context,
                                               const iwtest::EchoRequest& request) override;
  absl::StatusOr<iwtest::SleepReply> Sleep(iw::CallContext& context,
                                           const iwtest::SleepRequest& request) override;
  absl::StatusOr<iwtest::CrashReply> Crash(iw::CallContext&,
                                           const iwtest::CrashRequest& request) override;
  absl::StatusOr<iwtest::FailReply> Fail(iw::CallContext&,
                                         const iwtest::FailRequest& request) override;
  absl::StatusOr<iwtest::GetEnvReply> GetEnv(iw::CallContext&,
                                             const iwtest::GetEnvRequest& request) override;
  absl::StatusOr<iwtest::SpinReply> Spin(iw::CallContext& context,
                                         const iwtest::SpinRequest& request) override;
  absl::StatusOr<iwtest::AllocateReply> Allocate(iw::CallContext&,
                                                 const iwtest::AllocateRequest& request) override;
  absl::StatusOr<iwtest::OpenFilesReply> OpenFiles(
      iw::CallContext&, const iwtest::OpenFilesRequest& request) override;
  // The streaming methods (see test_service.proto). Count with crash_after
  // and Chat with a "crash" line end the process: not on an in-process host.
  absl::Status Count(iw::CallContext& context, const iwtest::CountRequest& request,
                     iw::StreamWriter<iwtest::CountReply>& writer) override;
  absl::StatusOr<iwtest::SumReply> Sum(iw::CallContext& context,
                                       iw::StreamReader<iwtest::Chunk>& reader) override;
  absl::Status Chat(iw::CallContext& context, iw::StreamReader<iwtest::ChatLine>& reader,
                    iw::StreamWriter<iwtest::ChatLine>& writer) override;
};

}  // namespace iwtest

#endif  // IW_TESTS_WORKERS_TEST_HANDLER_H_
