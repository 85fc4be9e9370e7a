// Trace context reaching a worker started by hand (--iw_listen): from a
// plain gRPC client sending the standard "traceparent" header (as
// OpenTelemetry's gRPC instrumentation does), and from our own host through
// Connect().
#include <fcntl.h>
#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/impl/client_unary_call.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/security/credentials.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "catch2/catch.hpp"
#include "runtime/process/subprocess.h"
#include "tests/tracing/test_support.h"
#include "tests/tracing/trace_service.pb.h"

namespace {

using iw::internal::SpawnSpec;
using iw::internal::Subprocess;
using iw::testing::IsOk;
using iwtrace::ProbeReply;
using iwtrace::ProbeRequest;

// trace_worker listening on a Unix socket in a private temp directory, its
// stderr (its records, see trace_worker.cc) in a file there.
class StandaloneWorker {
 public:
  StandaloneWorker() {
    char dir_template[] = "/tmp/iwtrace-XXXXXX";
    REQUIRE(::mkdtemp(dir_template) != nullptr);
    dir_ = dir_template;
    socket_ = dir_ + "/worker.sock";
    stderr_path_ = dir_ + "/stderr.txt";
    const int err = ::open(stderr_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    REQUIRE(err >= 0);
    SpawnSpec spec;
    spec.executable = iw::testing::RunfilePath("tests/tracing/trace_worker");
    spec.argv = {spec.executable, "--iw_listen=unix:" + socket_};
    spec.env = iw::testing::CurrentEnvironment();
    spec.stderr_fd = err;
    auto process = Subprocess::Start(spec);
    ::close(err);
    REQUIRE(process.ok());
    process_ = std::move(*process);
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (!UnixSocketAccepts() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(5));
    channel_ = grpc::CreateChannel("unix:" + socket_, grpc::InsecureChannelCredentials());
    REQUIRE(channel_->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(10))));
  }

  ~StandaloneWorker() {
    Stop();
    process_.reset();
    ::unlink(socket_.c_str());
    ::unlink(stderr_path_.c_str());
    ::rmdir(dir_.c_str());
  }

  // SIGTERM, then waits up to 10 s for the exit. Idempotent.
  void Stop() {
    channel_.reset();
    if (process_->exit_status().has_value()) return;
    process_->Signal(SIGTERM);
    auto status = process_->Wait(absl::Now() + absl::Seconds(10));
    CHECK(status.has_value());
  }

  std::string address() const { return "unix:" + socket_; }

  // A plain gRPC unary call of Probe with `metadata`.
  grpc::Status Probe(const std::vector<std::pair<std::string, std::string>>& metadata,
                     ProbeReply* reply) {
    grpc::internal::RpcMethod method("/iwtrace.TraceTest/Probe",
                                     grpc::internal::RpcMethod::NORMAL_RPC);
    grpc::ClientContext context;
    for (const auto& [key, value] : metadata) context.AddMetadata(key, value);
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    return grpc::internal::BlockingUnaryCall<ProbeRequest, ProbeReply>(
        channel_.get(), method, &context, ProbeRequest(), reply);
  }

  // Waits up to 10 s for a line of the worker's stderr containing `text`.
  std::string WaitForStderrLine(const std::string& text) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      FILE* f = std::fopen(stderr_path_.c_str(), "r");
      if (f != nullptr) {
        char line[4096];
        while (std::fgets(line, sizeof(line), f) != nullptr) {
          if (absl::StrContains(line, text)) {
            std::fclose(f);
            return line;
          }
        }
        std::fclose(f);
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    return "";
  }

 private:
  bool UnixSocketAccepts() const {
    auto channel = grpc::CreateChannel("unix:" + socket_, grpc::InsecureChannelCredentials());
    return channel->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Milliseconds(20)));
  }

  std::string dir_;
  std::string socket_;
  std::string stderr_path_;
  std::unique_ptr<Subprocess> process_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_CASE("Tracing: a plain gRPC client's traceparent header reaches a standalone worker's handler",
          "[e2e][tracing][interop]") {
  StandaloneWorker worker;
  SECTION("valid: CallContext::trace() holds it, and the WorkerTracer saw it") {
    ProbeReply reply;
    grpc::Status status = worker.Probe(
        {{"traceparent", iwtrace::kTraceparent}, {"tracestate", iwtrace::kTracestate}}, &reply);
    REQUIRE(status.ok());
    CHECK(reply.traceparent() == iwtrace::kTraceparent);
    CHECK(reply.tracestate() == iwtrace::kTracestate);
    CHECK(reply.trace_id() == iwtrace::kTraceId);
    CHECK(reply.tracer_saw() == iwtrace::kTraceparent);
  }
  SECTION("two tracestate headers are one list (W3C)") {
    ProbeReply reply;
    grpc::Status status = worker.Probe({{"traceparent", iwtrace::kTraceparent},
                                        {"tracestate", "congo=t61rcWkgMzE"},
                                        {"tracestate", "rojo=00f067aa0ba902b7"}},
                                       &reply);
    REQUIRE(status.ok());
    CHECK(reply.tracestate() == "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7");
  }
  SECTION("invalid: ignored, the call succeeds, and a debug record says why") {
    ProbeReply reply;
    grpc::Status status = worker.Probe(
        {{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"}}, &reply);
    REQUIRE(status.ok());
    CHECK(reply.traceparent().empty());
    CHECK(reply.tracer_saw().empty());
    const std::string line = worker.WaitForStderrLine("ignored the caller's trace context");
    CHECK(absl::StrContains(line, "iw-record level=debug"));
    CHECK(absl::StrContains(line, "traceparent: parent id is all zeros"));
  }
  SECTION("a bad tracestate does not spoil a good traceparent") {
    ProbeReply reply;
    grpc::Status status =
        worker.Probe({{"traceparent", iwtrace::kTraceparent}, {"tracestate", "novalue"}}, &reply);
    REQUIRE(status.ok());
    CHECK(reply.traceparent() == iwtrace::kTraceparent);
    CHECK(reply.tracestate().empty());
  }
}

TEST_CASE("Tracing: Connect() carries CallOptions::trace to a standalone worker",
          "[e2e][tracing][remote]") {
  StandaloneWorker worker;
  iwtrace::Records records;
  iw::RemoteOptions remote;
  remote.log_sink = records.Sink();
  auto host = iwtrace::TraceTestHost::Connect({worker.address()}, remote);
  REQUIRE_THAT(host.status(), IsOk());
  iw::CallOptions options;
  options.trace = iw::TraceContext{iwtrace::kTraceparent, iwtrace::kTracestate};
  ProbeRequest request;
  request.set_log("remote hello");
  auto reply = (*host)->Probe(request, options);
  REQUIRE_THAT(reply.status(), IsOk());
  CHECK(reply->traceparent() == iwtrace::kTraceparent);
  CHECK(reply->tracestate() == iwtrace::kTracestate);
  // The worker's record of the handler's LogMessage carries both ids.
  const std::string line = worker.WaitForStderrLine("message=remote hello");
  CHECK(absl::StrContains(
      line, absl::StrCat("request=", reply->request_id(), " trace=", iwtrace::kTraceId)));
  host->reset();
}

TEST_CASE("Logging: a worker's records outside calls (stopping) go to WorkerConfig::log_sink",
          "[e2e][logging]") {
  StandaloneWorker worker;
  worker.Stop();
  // trace_worker's own sink writes FormatRecord() lines; the default sink
  // would have written "[iw info] ...".
  const std::string line = worker.WaitForStderrLine("message=stopping:");
  CAPTURE(line);
  CHECK(absl::StartsWith(line, "iw-record level=info worker="));
  CHECK(absl::StrContains(line, " request= trace= span= "));
}

}  // namespace
