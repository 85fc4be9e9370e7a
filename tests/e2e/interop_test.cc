// A worker started by hand serves standard gRPC: any gRPC client can call it
// with the /package.Service/Method path and protobuf bodies, its streaming
// methods included (as ordinary gRPC streaming calls).
#include <fcntl.h>
#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/impl/client_unary_call.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/byte_buffer.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <grpcpp/support/sync_stream.h>

#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "catch2/catch.hpp"
#include "isolated_workers/internal/call_stream.pb.h"
#include "runtime/process/subprocess.h"
#include "tests/e2e/e2e_util.h"
#include "tests/workers/test_service.pb.h"

namespace {

using iw::internal::SpawnSpec;
using iw::internal::Subprocess;

// A worker process listening on a Unix socket in a private temp directory.
class StandaloneWorker {
 public:
  explicit StandaloneWorker(std::string executable = iw::testing::TestWorkerPath(),
                            const std::vector<std::string>& extra_env = {}) {
    char dir_template[] = "/tmp/iwtest-XXXXXX";
    REQUIRE(::mkdtemp(dir_template) != nullptr);
    dir_ = dir_template;
    socket_ = dir_ + "/worker.sock";
    SpawnSpec spec;
    spec.executable = std::move(executable);
    spec.argv = {spec.executable, "--iw_listen=unix:" + socket_};
    spec.env = iw::testing::CurrentEnvironment();
    spec.env.insert(spec.env.end(), extra_env.begin(), extra_env.end());
    auto process = Subprocess::Start(spec);
    REQUIRE(process.ok());
    process_ = std::move(*process);
    absl::Time deadline = absl::Now() + absl::Seconds(10);
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

  // A bidi stream on `path`, with `metadata` (sync API, as grpc_cpp_plugin
  // generates it).
  template <typename Request, typename Reply>
  std::unique_ptr<grpc::ClientReaderWriter<Request, Reply>> OpenStream(
      const char* path, grpc::ClientContext* context,
      const std::vector<std::pair<std::string, std::string>>& metadata) {
    for (const auto& [key, value] : metadata) context->AddMetadata(key, value);
    context->set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    return std::unique_ptr<grpc::ClientReaderWriter<Request, Reply>>(
        grpc::internal::ClientReaderWriterFactory<Request, Reply>::Create(
            channel_.get(),
            grpc::internal::RpcMethod(path, grpc::internal::RpcMethod::BIDI_STREAMING), context));
  }

  // A unary call with a deadline of `timeout` (none if infinite).
  template <typename Request, typename Reply>
  grpc::Status Call(const char* path, const Request& request, Reply* reply,
                    absl::Duration timeout = absl::Seconds(10)) {
    grpc::internal::RpcMethod method(path, grpc::internal::RpcMethod::NORMAL_RPC);
    grpc::ClientContext context;
    if (timeout != absl::InfiniteDuration()) {
      context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
    }
    return grpc::internal::BlockingUnaryCall<Request, Reply>(channel_.get(), method, &context,
                                                             request, reply);
  }

  Subprocess& process() { return *process_; }

  // iwtest.TestService's streaming methods, as grpc_cpp_plugin generates
  // their client calls (sync API).
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

TEST_CASE("Interop: a plain gRPC client calls a worker started by hand", "[e2e][interop]") {
  {
    StandaloneWorker worker;
    iwtest::EchoRequest request;
    request.set_text("from a plain gRPC client");
    iwtest::EchoReply reply;
    grpc::Status status = worker.Call("/iwtest.TestService/Echo", request, &reply);
    REQUIRE(status.ok());
    CHECK(reply.text() == request.text());

    SECTION("an unknown method is UNIMPLEMENTED") {
      grpc::Status unknown = worker.Call("/iwtest.TestService/Nope", request, &reply);
      CHECK(unknown.error_code() == grpc::StatusCode::UNIMPLEMENTED);
      CHECK_THAT(unknown.error_message(), Catch::Contains("/iwtest.TestService/Nope"));
    }
    SECTION("malformed request bytes are INVALID_ARGUMENT and the worker keeps serving") {
      grpc::Slice garbage(std::string("\xff\xff\xff\xff\x0f garbage", 13));
      grpc::ByteBuffer bytes(&garbage, 1);
      grpc::ByteBuffer out;
      grpc::Status bad = worker.Call("/iwtest.TestService/Echo", bytes, &out);
      CHECK(bad.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
      CHECK_THAT(bad.error_message(), Catch::Contains("malformed request"));
      CHECK(worker.Call("/iwtest.TestService/Echo", request, &reply).ok());
    }
  }
  CHECK(iw::testing::NoChildProcesses());
}

TEST_CASE(
    "Interop: a standalone worker bounds a call without a deadline, or with a longer "
    "one, by its .proto's timeout_ms",
    "[e2e][interop][timeouts]") {
  {
    StandaloneWorker worker;
    // Sleep's (iw.method).timeout_ms is 300; the handler would sleep 5 s.
    for (bool stop_when_cancelled : {true, false}) {
      for (absl::Duration caller_timeout : {absl::InfiniteDuration(), absl::Seconds(30)}) {
        INFO("stop_when_cancelled " << stop_when_cancelled << ", caller timeout "
                                    << absl::FormatDuration(caller_timeout));
        iwtest::SleepRequest sleep;
        sleep.set_ms(5000);
        sleep.set_stop_when_cancelled(stop_when_cancelled);
        iwtest::SleepReply reply;
        const absl::Time start = absl::Now();
        grpc::Status status =
            worker.Call("/iwtest.TestService/Sleep", sleep, &reply, caller_timeout);
        const absl::Duration took = absl::Now() - start;
        CHECK(status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
        CHECK_THAT(status.error_message(), Catch::Contains("iwtest.TestService.Sleep"));
        // Answered at the bound, not when the handler returns (5 s).
        CHECK(took < absl::Seconds(4));
      }
    }
    // A deadline shorter than the .proto's is the caller's to keep.
    iwtest::SleepRequest quick;
    quick.set_ms(20);
    iwtest::SleepReply reply;
    grpc::Status status = worker.Call("/iwtest.TestService/Sleep", quick, &reply);
    REQUIRE(status.ok());
    CHECK(reply.deadline_left_ms() <= 300 * iw::testing::kSanitizerSlowdown);
  }
  CHECK(iw::testing::NoChildProcesses());
}

TEST_CASE(
    "Interop: DEADLINE_REPLACE_WORKER ends a standalone worker whose handler overran, "
    "for its supervisor to restart",
    "[e2e][interop][timeouts]") {
  {
    // Scaled under sanitizers, so that the handler surely starts before the
    // bound (a call still queued at its bound never runs, and nothing overruns).
    StandaloneWorker worker(iw::testing::RunfilePath("examples/timeouts/timeouts_worker"),
                            {absl::StrCat("IW_TIMEOUT_SCALE=", iw::testing::kSanitizerSlowdown)});
    grpc::ByteBuffer warm;
    REQUIRE(worker.Call("/timeouts.v1.Sleeper/Events", iwtest::EchoRequest(), &warm).ok());
    // timeouts.v1.Sleeper.Crunch: timeout_ms 300, DEADLINE_REPLACE_WORKER,
    // deadline_grace_ms 200. Its NapRequest has SleepRequest's wire shape
    // (int64 ms = 1; bool stop_when_cancelled = 2).
    iwtest::SleepRequest crunch;
    crunch.set_ms(20000);
    crunch.set_stop_when_cancelled(false);
    grpc::ByteBuffer out;
    grpc::Status status =
        worker.Call("/timeouts.v1.Sleeper/Crunch", crunch, &out, absl::InfiniteDuration());
    CHECK(status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED);
    // The handler is still running 200 ms after the bound: the worker exits
    // with kReplacedExitCode (70), well before the handler would return.
    auto exited = worker.process().Wait(absl::Now() + absl::Seconds(30));
    REQUIRE(exited.has_value());
    CHECK_FALSE(exited->signaled);
    CHECK(exited->code == 70);
  }
  CHECK(iw::testing::NoChildProcesses());
}

TEST_CASE("Interop: a plain gRPC client drives the call stream (/iw.internal.CallStream/Calls)",
          "[e2e][interop][call_stream]") {
  {
    StandaloneWorker worker;
    SECTION("calls by method index, each answered by id; unknown methods are UNIMPLEMENTED") {
      grpc::ClientContext context;
      auto stream = worker.OpenStream<iw::internal::CallBatch, iw::internal::ReplyBatch>(
          "/iw.internal.CallStream/Calls", &context, {{"iw-call-stream", "1"}});
      iw::internal::CallBatch batch;
      batch.add_method_paths("/iwtest.TestService/Echo");
      batch.add_method_paths("/iwtest.TestService/Nope");
      for (int id = 1; id <= 3; ++id) {
        iw::internal::StreamCall* call = batch.add_calls();
        call->set_id(id);
        call->set_method(0);
        call->set_timeout_us(10'000'000);
        iwtest::EchoRequest request;
        request.set_text(absl::StrCat("call ", id));
        request.SerializeToString(call->mutable_request());
      }
      batch.add_calls()->set_method(1);  // id 0, unknown path
      batch.mutable_calls(3)->set_id(40);
      batch.add_calls()->set_method(9);  // outside the table
      batch.mutable_calls(4)->set_id(50);
      iw::internal::StreamCall* malformed = batch.add_calls();
      malformed->set_id(60);
      malformed->set_request(std::string("\xff\xff\xff\xff\x0f", 5));
      REQUIRE(stream->Write(batch));
      REQUIRE(stream->WritesDone());
      std::map<uint64_t, iw::internal::StreamReply> replies;
      iw::internal::ReplyBatch in;
      while (stream->Read(&in)) {
        for (const auto& reply : in.replies()) replies[reply.id()] = reply;
      }
      CHECK(stream->Finish().ok());
      REQUIRE(replies.size() == 6);
      for (int id = 1; id <= 3; ++id) {
        CHECK(replies[id].code() == 0);
        iwtest::EchoReply echo;
        REQUIRE(echo.ParseFromString(replies[id].response()));
        CHECK(echo.text() == absl::StrCat("call ", id));
        CHECK(echo.deadline_left_ms() > 5000);  // the call's own deadline
      }
      CHECK(replies[40].code() == grpc::StatusCode::UNIMPLEMENTED);
      CHECK_THAT(replies[40].message(), Catch::Contains("/iwtest.TestService/Nope"));
      CHECK(replies[50].code() == grpc::StatusCode::UNIMPLEMENTED);
      CHECK(replies[60].code() == grpc::StatusCode::INVALID_ARGUMENT);
      CHECK_THAT(replies[60].message(), Catch::Contains("malformed request"));
    }
    SECTION("a stream without a supported version is UNIMPLEMENTED") {
      grpc::ClientContext context;
      auto stream = worker.OpenStream<iw::internal::CallBatch, iw::internal::ReplyBatch>(
          "/iw.internal.CallStream/Calls", &context, {{"iw-call-stream", "99"}});
      stream->WritesDone();
      iw::internal::ReplyBatch in;
      CHECK_FALSE(stream->Read(&in));
      grpc::Status status = stream->Finish();
      CHECK(status.error_code() == grpc::StatusCode::UNIMPLEMENTED);
      CHECK_THAT(status.error_message(), Catch::Contains("\"99\" is not supported"));
    }
    SECTION("malformed batch bytes end that stream with INVALID_ARGUMENT; the worker serves on") {
      grpc::ClientContext context;
      auto stream = worker.OpenStream<grpc::ByteBuffer, grpc::ByteBuffer>(
          "/iw.internal.CallStream/Calls", &context, {{"iw-call-stream", "1"}});
      grpc::Slice garbage(std::string("\xff\xff\xff\xff\x0f garbage", 13));
      grpc::ByteBuffer bytes(&garbage, 1);
      stream->Write(bytes);
      stream->WritesDone();
      grpc::ByteBuffer in;
      while (stream->Read(&in)) {
      }
      grpc::Status status = stream->Finish();
      CHECK(status.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
      CHECK_THAT(status.error_message(), Catch::Contains("malformed call stream batch"));
      iwtest::EchoRequest request;
      request.set_text("after");
      iwtest::EchoReply reply;
      CHECK(worker.Call("/iwtest.TestService/Echo", request, &reply).ok());
    }
  }
  CHECK(iw::testing::NoChildProcesses());
}

TEST_CASE("Interop: a worker binary run with neither host nor address exits 2", "[e2e][interop]") {
  SpawnSpec spec;
  spec.executable = iw::testing::TestWorkerPath();
  int dev_null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  spec.stderr_fd = dev_null;
  auto process = Subprocess::Start(spec);
  ::close(dev_null);
  REQUIRE(process.ok());
  auto status = (*process)->Wait(absl::Now() + absl::Seconds(10));
  REQUIRE(status.has_value());
  CHECK(status->ToString() == "exit code 2");
}

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
