// A worker started by hand serves standard gRPC: any gRPC client can call it
// with the /package.Service/Method path and protobuf bodies.
#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/impl/client_unary_call.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/byte_buffer.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "catch2/catch.hpp"
#include "runtime/process/subprocess.h"
#include "tests/e2e/e2e_util.h"
#include "tests/workers/test_service.pb.h"

namespace {

using iw::internal::SpawnSpec;
using iw::internal::Subprocess;

// A worker process listening on a Unix socket in a private temp directory.
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
    process_->Signal(SIGTERM);
    auto status = process_->Wait(absl::Now() + absl::Seconds(10));
    CHECK(status.has_value());
    if (status) CHECK(status->success());  // SIGTERM drains and exits 0
    process_.reset();
    ::unlink(socket_.c_str());
    ::rmdir(dir_.c_str());
  }

  template <typename Request, typename Reply>
  grpc::Status Call(const char* path, const Request& request, Reply* reply) {
    grpc::internal::RpcMethod method(path, grpc::internal::RpcMethod::NORMAL_RPC);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    return grpc::internal::BlockingUnaryCall<Request, Reply>(channel_.get(), method,
                                                              &context, request, reply);
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

TEST_CASE("Interop: a worker binary run with neither host nor address exits 2",
          "[e2e][interop]") {
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

}  // namespace
