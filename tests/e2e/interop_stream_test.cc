// A worker started by hand serves its streaming methods as standard gRPC
// streaming calls: a plain gRPC client (the sync API, as grpc_cpp_plugin
// generates it) calls iwtest.TestService's server-streaming Count and
// bidirectional Chat.
//
// Needs the streaming methods of tests/workers/test_service.proto (branch
// `codegen`): the target is tagged manual until both branches are merged.
#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/sync_stream.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "catch2/catch.hpp"
#include "runtime/process/subprocess.h"
#include "tests/e2e/e2e_util.h"
#include "tests/workers/test_service.pb.h"

namespace {

using iw::internal::SpawnSpec;
using iw::internal::Subprocess;

// The test worker listening on a Unix socket in a private temp directory
// (TEST_TMPDIR is too long for a socket path).
class StandaloneWorker {
 public:
  StandaloneWorker() {
    char dir_template[] = "/tmp/iwtest-XXXXXX";
    REQUIRE(::mkdtemp(dir_template) != nullptr);
    dir_ = dir_template;
    socket_ = dir_ + "/worker.sock";
    SpawnSpec spec;
    spec.executable = iw::testing::TestWorkerPath();
    spec.argv = {spec.executable, "--iw_listen=unix:" + socket_};
    spec.env = iw::testing::CurrentEnvironment();
    auto process = Subprocess::Start(spec);
    REQUIRE(process.ok());
    process_ = std::move(*process);
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    struct stat st;
    while (::stat(socket_.c_str(), &st) != 0 && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    channel_ = grpc::CreateChannel("unix:" + socket_, grpc::InsecureChannelCredentials());
    REQUIRE(channel_->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(10))));
  }

  ~StandaloneWorker() {
    channel_.reset();
    if (!process_->exit_status().has_value()) {
      process_->Signal(SIGTERM);
      auto status = process_->Wait(absl::Now() + absl::Seconds(10));
      CHECK(status.has_value());
      if (status) CHECK(status->success());  // SIGTERM drains and exits 0
    }
    process_.reset();
    ::unlink(socket_.c_str());
    ::rmdir(dir_.c_str());
  }

  std::unique_ptr<grpc::ClientReader<iwtest::CountReply>> Count(const iwtest::CountRequest& request,
                                                                grpc::ClientContext* context) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    return std::unique_ptr<grpc::ClientReader<iwtest::CountReply>>(
        grpc::internal::ClientReaderFactory<iwtest::CountReply>::Create(
            channel_.get(),
            grpc::internal::RpcMethod("/iwtest.TestService/Count",
                                      grpc::internal::RpcMethod::SERVER_STREAMING),
            context, request));
  }

  std::unique_ptr<grpc::ClientReaderWriter<iwtest::ChatLine, iwtest::ChatLine>> Chat(
      grpc::ClientContext* context) {
    context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    return std::unique_ptr<grpc::ClientReaderWriter<iwtest::ChatLine, iwtest::ChatLine>>(
        grpc::internal::ClientReaderWriterFactory<iwtest::ChatLine, iwtest::ChatLine>::Create(
            channel_.get(),
            grpc::internal::RpcMethod("/iwtest.TestService/Chat",
                                      grpc::internal::RpcMethod::BIDI_STREAMING),
            context));
  }

 private:
  std::string dir_;
  std::string socket_;
  std::unique_ptr<Subprocess> process_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_CASE("Interop: a plain gRPC client reads a standalone worker's server stream",
          "[e2e][interop][stream]") {
  {
    StandaloneWorker worker;
    SECTION("every reply in order, then OK") {
      iwtest::CountRequest request;
      request.set_text("tick");
      request.set_count(25);
      grpc::ClientContext context;
      auto reader = worker.Count(request, &context);
      iwtest::CountReply reply;
      int i = 0;
      while (reader->Read(&reply)) {
        CHECK(reply.index() == i);
        CHECK(reply.text() == absl::StrCat("tick #", i));
        ++i;
      }
      CHECK(i == 25);
      CHECK(reader->Finish().ok());
    }
    SECTION("the handler's error after some replies, after them") {
      iwtest::CountRequest request;
      request.set_text("tick");
      request.set_count(10);
      request.set_fail_after(3);
      request.set_fail_code(static_cast<int>(grpc::StatusCode::FAILED_PRECONDITION));
      grpc::ClientContext context;
      auto reader = worker.Count(request, &context);
      iwtest::CountReply reply;
      int read = 0;
      while (reader->Read(&reply)) ++read;
      CHECK(read == 3);
      grpc::Status status = reader->Finish();
      CHECK(status.error_code() == grpc::StatusCode::FAILED_PRECONDITION);
      CHECK_THAT(status.error_message(), Catch::Contains("failed after 3"));
    }
    SECTION("a client that cancels stops the handler; the worker serves on") {
      iwtest::CountRequest request;
      request.set_until_cancelled(true);
      request.set_interval_ms(1);
      grpc::ClientContext context;
      auto reader = worker.Count(request, &context);
      iwtest::CountReply reply;
      for (int i = 0; i < 3; ++i) REQUIRE(reader->Read(&reply));
      context.TryCancel();
      while (reader->Read(&reply)) {
      }
      CHECK(reader->Finish().error_code() == grpc::StatusCode::CANCELLED);
      iwtest::CountRequest again;
      again.set_count(2);
      grpc::ClientContext second;
      auto more = worker.Count(again, &second);
      int read = 0;
      while (more->Read(&reply)) ++read;
      CHECK(read == 2);
      CHECK(more->Finish().ok());
    }
  }
  CHECK(iw::testing::NoChildProcesses());
}

TEST_CASE("Interop: a plain gRPC client chats with a standalone worker (bidi streaming)",
          "[e2e][interop][stream]") {
  {
    StandaloneWorker worker;
    grpc::ClientContext context;
    auto stream = worker.Chat(&context);
    for (int i = 0; i < 20; ++i) {
      iwtest::ChatLine line;
      line.set_text(absl::StrCat("line ", i));
      line.set_seq(i);
      REQUIRE(stream->Write(line));
      iwtest::ChatLine reply;
      REQUIRE(stream->Read(&reply));
      CHECK(reply.seq() == i);
      CHECK(reply.text() == absl::AsciiStrToUpper(line.text()));
    }
    REQUIRE(stream->WritesDone());
    iwtest::ChatLine reply;
    CHECK_FALSE(stream->Read(&reply));
    CHECK(stream->Finish().ok());
  }
  CHECK(iw::testing::NoChildProcesses());
}

}  // namespace
