// A worker serving iwtest.TestService from another version of its .proto
// (tests/workers/schema_changed or schema_renamed, picked by the build with
// SCHEMA_VERSION_HEADER), for the schema check at spawn. Only Echo works.
#include <string>

#include "absl/strings/str_cat.h"
#include SCHEMA_VERSION_HEADER

namespace {

#define IW_TEST_UNIMPLEMENTED(Method, Request, Reply)                                       \
  absl::StatusOr<iwtest::Reply> Method(iw::CallContext&, const iwtest::Request&) override { \
    return absl::UnimplementedError(#Method " is not served by this test worker");          \
  }

class OtherVersionHandler final : public iwtest::TestServiceHandler {
 public:
  absl::StatusOr<iwtest::EchoReply> Echo(iw::CallContext&,
                                         const iwtest::EchoRequest& request) override {
    iwtest::EchoReply reply;
#ifdef SCHEMA_RENAMED
    reply.set_text(request.message());
#else
    reply.set_text(absl::StrCat(request.text()));
#endif
    return reply;
  }
  IW_TEST_UNIMPLEMENTED(EchoInline, EchoRequest, EchoReply)
  IW_TEST_UNIMPLEMENTED(Sleep, SleepRequest, SleepReply)
  IW_TEST_UNIMPLEMENTED(Crash, CrashRequest, CrashReply)
  IW_TEST_UNIMPLEMENTED(Fail, FailRequest, FailReply)
  IW_TEST_UNIMPLEMENTED(GetEnv, GetEnvRequest, GetEnvReply)
  IW_TEST_UNIMPLEMENTED(Spin, SpinRequest, SpinReply)
  IW_TEST_UNIMPLEMENTED(Allocate, AllocateRequest, AllocateReply)
  IW_TEST_UNIMPLEMENTED(OpenFiles, OpenFilesRequest, OpenFilesReply)
  absl::Status Count(iw::CallContext&, const iwtest::CountRequest&,
                     iw::StreamWriter<iwtest::CountReply>&) override {
    return absl::UnimplementedError("Count is not served by this test worker");
  }
  absl::StatusOr<iwtest::SumReply> Sum(iw::CallContext&,
                                       iw::StreamReader<iwtest::Chunk>&) override {
    return absl::UnimplementedError("Sum is not served by this test worker");
  }
  absl::Status Chat(iw::CallContext&, iw::StreamReader<iwtest::ChatLine>&,
                    iw::StreamWriter<iwtest::ChatLine>&) override {
    return absl::UnimplementedError("Chat is not served by this test worker");
  }
};

}  // namespace

int main(int argc, char** argv) {
  OtherVersionHandler handler;
  return iwtest::RunTestServiceWorker(argc, argv, handler);
}
