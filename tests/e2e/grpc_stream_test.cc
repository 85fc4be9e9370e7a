// Streams carried as ordinary gRPC streaming calls (/pkg.Service/Method), at
// the erased level: a hand-written streaming service served by the worker's
// gRPC service (a real grpc::Server on a Unix socket, or an in-process
// worker), reached through OpenGrpcStream and HostStream.
#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "catch2/catch.hpp"
#include "runtime/codegen_support/handler_adapter.h"
#include "runtime/codegen_support/service_info.h"
#include "runtime/host/grpc_stream.h"
#include "runtime/host/host_stream.h"
#include "runtime/host/inprocess_endpoint.h"
#include "runtime/stream.h"
#include "runtime/wire/grpc_config.h"
#include "runtime/wire/grpc_workarounds.h"
#include "runtime/worker/dispatcher.h"
#include "runtime/worker/service.h"
#include "tests/testing/status_matchers.h"
#include "tests/workers/test_service.pb.h"

namespace {

using iw::CallContext;
using iw::internal::CallTiming;
using iw::internal::HostStream;
using iw::internal::StreamIo;
using iw::testing::IsOk;
using iw::testing::StatusIs;
using iwtest::EchoReply;
using iwtest::EchoRequest;

constexpr int kMaxMessageBytes = 64 << 10;

// ---------------------------------------------------------------------------
// The service: one method per behaviour.
// ---------------------------------------------------------------------------

enum Method { kCount, kSum, kChat, kEcho, kBounded };

const iw::codegen::MethodInfo kMethods[] = {
    {.name = "Count", .path = "/iwtest.StreamService/Count", .server_streaming = true},
    {.name = "Sum", .path = "/iwtest.StreamService/Sum", .client_streaming = true},
    {.name = "Chat",
     .path = "/iwtest.StreamService/Chat",
     .client_streaming = true,
     .server_streaming = true},
    {.name = "Echo", .path = "/iwtest.StreamService/Echo"},
    // Count, bound by its .proto to 300 ms on a standalone worker.
    {.name = "Bounded",
     .path = "/iwtest.StreamService/Bounded",
     .timeout_ms = 300,
     .server_streaming = true},
};

iw::codegen::ServiceInfo MakeService() {
  iw::codegen::ServiceInfo service{"iwtest.StreamService", kMethods, 5};
  service.max_request_bytes = kMaxMessageBytes;
  service.max_response_bytes = kMaxMessageBytes;
  return service;
}
const iw::codegen::ServiceInfo kService = MakeService();

// What the handlers saw, for the tests to wait on.
struct Observed {
  std::atomic<int> written{0};
  absl::Notification write_failed;
  absl::Notification saw_cancel;
};

struct Handler {
  Observed* observed = nullptr;
};

// Count: the request's text is N; writes replies "0".."N-1". payload
// "forever": writes 16 KiB replies until Write() fails; "fail": fails after
// N replies; "block": waits (up to 10s) until cancelled.
absl::Status Count(Handler* handler, CallContext& context, const EchoRequest& request,
                   iw::StreamWriter<EchoReply>& writer) {
  Observed& observed = *handler->observed;
  if (request.payload() == "block") {
    const absl::Time give_up = absl::Now() + absl::Seconds(10);
    while (!context.IsCancelled() && absl::Now() < give_up) absl::SleepFor(absl::Milliseconds(5));
    if (context.IsCancelled()) observed.saw_cancel.Notify();
    return absl::OkStatus();
  }
  if (request.payload() == "forever") {
    EchoReply reply;
    reply.set_payload(std::string(16 << 10, 'x'));
    for (int i = 0;; ++i) {
      reply.set_text(absl::StrCat(i));
      if (!writer.Write(reply)) {
        observed.write_failed.Notify();
        return absl::OkStatus();
      }
      observed.written.fetch_add(1);
    }
  }
  int n = 0;
  if (!absl::SimpleAtoi(request.text(), &n)) return absl::InvalidArgumentError("not a number");
  for (int i = 0; i < n; ++i) {
    EchoReply reply;
    reply.set_text(absl::StrCat(i));
    if (!writer.Write(reply)) return absl::OkStatus();
  }
  if (request.payload() == "fail") {
    return absl::FailedPreconditionError(absl::StrCat("failed after ", n, " replies"));
  }
  return absl::OkStatus();
}

// Sum: adds the numbers in the requests' texts.
absl::StatusOr<EchoReply> Sum(CallContext&, iw::StreamReader<EchoRequest>& reader) {
  int64_t sum = 0;
  EchoRequest request;
  while (reader.Read(&request)) {
    int n = 0;
    if (!absl::SimpleAtoi(request.text(), &n)) return absl::InvalidArgumentError("not a number");
    sum += n;
  }
  EchoReply reply;
  reply.set_text(absl::StrCat(sum));
  return reply;
}

// Chat: echoes each request; text "big" answers with a reply over the limit.
absl::Status Chat(CallContext&, iw::StreamReader<EchoRequest>& reader,
                  iw::StreamWriter<EchoReply>& writer) {
  EchoRequest request;
  while (reader.Read(&request)) {
    EchoReply reply;
    reply.set_text(request.text());
    if (request.text() == "big") reply.set_payload(std::string(kMaxMessageBytes + 1, 'x'));
    if (!writer.Write(reply)) return absl::OkStatus();
  }
  return absl::OkStatus();
}

// The erased adapters, as generated code would have them.
absl::Status InvokeCount(void* handler, CallContext& context,
                         const google::protobuf::MessageLite* request, StreamIo& io,
                         google::protobuf::MessageLite*) {
  iw::StreamWriter<EchoReply> writer(&io);
  return Count(static_cast<Handler*>(handler), context, *static_cast<const EchoRequest*>(request),
               writer);
}
absl::Status InvokeSum(void*, CallContext& context, const google::protobuf::MessageLite*,
                       StreamIo& io, google::protobuf::MessageLite* response) {
  iw::StreamReader<EchoRequest> reader(&io);
  absl::StatusOr<EchoReply> reply = Sum(context, reader);
  if (!reply.ok()) return reply.status();
  *static_cast<EchoReply*>(response) = *std::move(reply);
  return absl::OkStatus();
}
absl::Status InvokeChat(void*, CallContext& context, const google::protobuf::MessageLite*,
                        StreamIo& io, google::protobuf::MessageLite*) {
  iw::StreamReader<EchoRequest> reader(&io);
  iw::StreamWriter<EchoReply> writer(&io);
  return Chat(context, reader, writer);
}
absl::Status InvokeEcho(void*, CallContext&, const google::protobuf::MessageLite& request,
                        google::protobuf::MessageLite* response) {
  static_cast<EchoReply*>(response)->set_text(static_cast<const EchoRequest&>(request).text());
  return absl::OkStatus();
}

const iw::codegen::MethodHandler kHandlers[] = {
    {&EchoRequest::default_instance(), &EchoReply::default_instance(), nullptr, &InvokeCount},
    {&EchoRequest::default_instance(), &EchoReply::default_instance(), nullptr, &InvokeSum},
    {&EchoRequest::default_instance(), &EchoReply::default_instance(), nullptr, &InvokeChat},
    {&EchoRequest::default_instance(), &EchoReply::default_instance(), &InvokeEcho, nullptr},
    {&EchoRequest::default_instance(), &EchoReply::default_instance(), nullptr, &InvokeCount},
};

CallTiming Timing(absl::Duration timeout) {
  CallTiming timing;
  timing.deadline = absl::Now() + timeout;
  timing.timeout = {timeout, "the test's timeout"};
  return timing;
}

// ---------------------------------------------------------------------------
// The two ways a host reaches a worker over gRPC.
// ---------------------------------------------------------------------------

class Worker {
 public:
  virtual ~Worker() = default;
  virtual std::shared_ptr<HostStream> Open(Method method, absl::Duration timeout) = 0;
  Observed observed;

 protected:
  Handler handler_{&observed};
  iw::codegen::ServiceBinding binding_{&kService, kHandlers, &handler_};
};

// The worker's gRPC service on a Unix socket (real HTTP/2), bound by the
// .proto like a standalone worker; the host end built as
// GrpcEndpoint::OpenStream builds it.
class SocketWorker final : public Worker {
 public:
  SocketWorker() {
    // TEST_TMPDIR is too long for a socket path.
    char dir_template[] = "/tmp/iwgs-XXXXXX";
    REQUIRE(::mkdtemp(dir_template) != nullptr);
    dir_ = dir_template;
    socket_ = dir_ + "/worker.sock";
    dispatcher_ = std::make_unique<iw::internal::Dispatcher>(binding_, "StreamService#1");
    dispatcher_->BoundCallsByProto();
    service_ = std::make_unique<iw::internal::WorkerService>(dispatcher_.get());
    grpc::ServerBuilder builder;
    iw::internal::ConfigureServer(kService, builder);
    builder.RegisterCallbackGenericService(service_.get());
    builder.AddListeningPort("unix:" + socket_, grpc::InsecureServerCredentials());
    server_ = builder.BuildAndStart();
    REQUIRE(server_ != nullptr);
    // As every host does before creating worker channels.
    iw::internal::PinGrpcCallbackQueue();
    const iw::internal::HostMessageLimits limits = iw::internal::HostLimits(kService, nullptr);
    channel_ = grpc::CreateCustomChannel("unix:" + socket_, grpc::InsecureChannelCredentials(),
                                         iw::internal::HostChannelArguments(limits));
    REQUIRE(channel_->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(10))));
  }
  ~SocketWorker() override {
    channel_.reset();
    server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
    CHECK(dispatcher_->WaitIdle(absl::Now() + absl::Seconds(10)));
    server_.reset();
    service_.reset();
    dispatcher_.reset();
    ::unlink(socket_.c_str());
    ::rmdir(dir_.c_str());
  }

  std::shared_ptr<HostStream> Open(Method method, absl::Duration timeout) override {
    const CallTiming timing = Timing(timeout);
    auto stream =
        std::make_shared<HostStream>(kService, method, timing, kMaxMessageBytes, kMaxMessageBytes);
    stream->Start(iw::internal::OpenGrpcStream(channel_, kMethods[method].path, timing, stream));
    return stream;
  }

 private:
  std::string dir_;
  std::string socket_;
  std::unique_ptr<iw::internal::Dispatcher> dispatcher_;
  std::unique_ptr<iw::internal::WorkerService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

// An in-process worker: WorkerEndpoint::OpenStream, the path generated code
// takes.
class InProcessWorker final : public Worker {
 public:
  InProcessWorker() {
    auto endpoint = iw::internal::InProcessEndpoint::Start(binding_, iw::WorkerOptions(), nullptr);
    REQUIRE(endpoint.ok());
    endpoint_ = std::move(*endpoint);
  }
  ~InProcessWorker() override {
    iw::CloseOptions options;
    options.grace = absl::Seconds(2);
    CHECK_THAT(endpoint_->Close(options), IsOk());
  }

  std::shared_ptr<HostStream> Open(Method method, absl::Duration timeout) override {
    auto stream = endpoint_->OpenStream(method, Timing(timeout), [](absl::Status&) {});
    REQUIRE(stream.ok());
    return *stream;
  }
  iw::internal::InProcessEndpoint& endpoint() { return *endpoint_; }

 private:
  std::unique_ptr<iw::internal::InProcessEndpoint> endpoint_;
};

std::unique_ptr<Worker> MakeWorker(bool in_process) {
  if (in_process) return std::make_unique<InProcessWorker>();
  return std::make_unique<SocketWorker>();
}

EchoRequest Text(std::string text, std::string payload = "") {
  EchoRequest request;
  request.set_text(std::move(text));
  request.set_payload(std::move(payload));
  return request;
}

// ---------------------------------------------------------------------------
// Tests
// ---------------------------------------------------------------------------

TEST_CASE("A server stream delivers every response in order, then OK") {
  const bool in_process = GENERATE(false, true);
  INFO((in_process ? "in-process worker" : "worker on a Unix socket"));
  std::unique_ptr<Worker> worker = MakeWorker(in_process);
  std::shared_ptr<HostStream> stream = worker->Open(kCount, absl::Seconds(10));
  REQUIRE(stream->Write(Text("50")));
  stream->CloseWrites();
  EchoReply reply;
  int i = 0;
  while (stream->Read(&reply)) {
    CHECK(reply.text() == absl::StrCat(i));
    ++i;
  }
  CHECK(i == 50);
  CHECK(stream->messages_read() == 50);
  CHECK_THAT(stream->Finish(), IsOk());
}

TEST_CASE("A client stream's requests are summed into its one response") {
  const bool in_process = GENERATE(false, true);
  INFO((in_process ? "in-process worker" : "worker on a Unix socket"));
  std::unique_ptr<Worker> worker = MakeWorker(in_process);
  std::shared_ptr<HostStream> stream = worker->Open(kSum, absl::Seconds(10));
  int64_t expected = 0;
  for (int i = 1; i <= 100; ++i) {
    REQUIRE(stream->Write(Text(absl::StrCat(i))));
    expected += i;
  }
  stream->CloseWrites();
  EchoReply reply;
  REQUIRE(stream->Read(&reply));
  CHECK(reply.text() == absl::StrCat(expected));
  CHECK_FALSE(stream->Read(&reply));
  CHECK_THAT(stream->Finish(), IsOk());
}

TEST_CASE("A bidi stream echoes each request, and ends once the host closes its writes") {
  const bool in_process = GENERATE(false, true);
  INFO((in_process ? "in-process worker" : "worker on a Unix socket"));
  std::unique_ptr<Worker> worker = MakeWorker(in_process);
  std::shared_ptr<HostStream> stream = worker->Open(kChat, absl::Seconds(10));
  EchoReply reply;
  for (int i = 0; i < 20; ++i) {
    REQUIRE(stream->Write(Text(absl::StrCat("line ", i))));
    REQUIRE(stream->Read(&reply));
    CHECK(reply.text() == absl::StrCat("line ", i));
  }
  stream->CloseWrites();
  CHECK_FALSE(stream->Read(&reply));
  CHECK_THAT(stream->Finish(), IsOk());
}

TEST_CASE("A bidi stream whose writer runs ahead of its reader is paced, not buffered") {
  std::unique_ptr<Worker> worker = MakeWorker(false);
  std::shared_ptr<HostStream> stream = worker->Open(kChat, absl::Seconds(10));
  // More than the window each way: the writes wait for the reads.
  std::atomic<bool> wrote_all{false};
  std::thread writer([&] {
    for (int i = 0; i < 200; ++i) {
      if (!stream->Write(Text(absl::StrCat(i)))) return;
    }
    stream->CloseWrites();
    wrote_all = true;
  });
  EchoReply reply;
  int i = 0;
  while (stream->Read(&reply)) {
    CHECK(reply.text() == absl::StrCat(i));
    ++i;
  }
  writer.join();
  CHECK(wrote_all);
  CHECK(i == 200);
  CHECK_THAT(stream->Finish(), IsOk());
}

TEST_CASE("A host's Cancel reaches the handler: its Write returns false") {
  const bool in_process = GENERATE(false, true);
  INFO((in_process ? "in-process worker" : "worker on a Unix socket"));
  std::unique_ptr<Worker> worker = MakeWorker(in_process);
  std::shared_ptr<HostStream> stream = worker->Open(kCount, absl::Seconds(10));
  REQUIRE(stream->Write(Text("0", "forever")));
  stream->CloseWrites();
  EchoReply reply;
  for (int i = 0; i < 3; ++i) REQUIRE(stream->Read(&reply));
  stream->Cancel();
  CHECK(worker->observed.write_failed.WaitForNotificationWithTimeout(absl::Seconds(5)));
  CHECK_THAT(stream->Finish(), StatusIs(absl::StatusCode::kCancelled));
}

TEST_CASE("Destroying an unfinished stream cancels the handler") {
  std::unique_ptr<Worker> worker = MakeWorker(false);
  {
    std::shared_ptr<HostStream> stream = worker->Open(kCount, absl::Seconds(10));
    REQUIRE(stream->Write(Text("0", "forever")));
    EchoReply reply;
    REQUIRE(stream->Read(&reply));
  }
  CHECK(worker->observed.write_failed.WaitForNotificationWithTimeout(absl::Seconds(5)));
}

TEST_CASE("The deadline ends a stream whose handler never answers, with DEADLINE_EXCEEDED") {
  const bool in_process = GENERATE(false, true);
  INFO((in_process ? "in-process worker" : "worker on a Unix socket"));
  std::unique_ptr<Worker> worker = MakeWorker(in_process);
  std::shared_ptr<HostStream> stream = worker->Open(kCount, absl::Milliseconds(500));
  REQUIRE(stream->Write(Text("0", "block")));
  stream->CloseWrites();
  const absl::Time start = absl::Now();
  EchoReply reply;
  CHECK_FALSE(stream->Read(&reply));
  CHECK(absl::Now() - start < absl::Seconds(5));
  CHECK_THAT(stream->Finish(), StatusIs(absl::StatusCode::kDeadlineExceeded));
  // The handler is told too.
  CHECK(worker->observed.saw_cancel.WaitForNotificationWithTimeout(absl::Seconds(5)));
}

TEST_CASE(
    "A standalone worker ends a stream at its .proto's bound, however long the caller waits") {
  std::unique_ptr<Worker> worker = MakeWorker(false);
  std::shared_ptr<HostStream> stream = worker->Open(kBounded, absl::Seconds(30));
  REQUIRE(stream->Write(Text("0", "block")));
  stream->CloseWrites();
  const absl::Time start = absl::Now();
  EchoReply reply;
  CHECK_FALSE(stream->Read(&reply));
  CHECK(absl::Now() - start < absl::Seconds(5));
  CHECK_THAT(stream->Finish(),
             StatusIs(absl::StatusCode::kDeadlineExceeded, "(iw.method).timeout_ms of the worker"));
  CHECK(worker->observed.saw_cancel.WaitForNotificationWithTimeout(absl::Seconds(5)));
}

TEST_CASE("A host that never reads holds the worker's writer (memory bounded) until the deadline") {
  std::unique_ptr<Worker> worker = MakeWorker(false);
  std::shared_ptr<HostStream> stream = worker->Open(kCount, absl::Seconds(6));
  REQUIRE(stream->Write(Text("0", "forever")));
  stream->CloseWrites();
  // The writer stops once the window and gRPC's flow control are full: its
  // count stays the same for 300 ms.
  const absl::Time give_up = absl::Now() + absl::Seconds(4);
  int blocked_at = -1;
  bool blocked = false;
  while (!blocked && absl::Now() < give_up) {
    const int before = worker->observed.written.load();
    absl::SleepFor(absl::Milliseconds(300));
    blocked_at = worker->observed.written.load();
    blocked = blocked_at == before && blocked_at > 0;
  }
  CHECK(blocked);
  // 16 KiB each. What is in flight is bounded by gRPC's flow control, not
  // by kStreamWindow: HTTP/2 windows that BDP probing grows while the
  // stream runs fast (6-25 MiB seen here), plus the socket's buffers.
  CHECK(blocked_at < 4096);
  CHECK_FALSE(worker->observed.write_failed.HasBeenNotified());
  CHECK_THAT(stream->Finish(), StatusIs(absl::StatusCode::kDeadlineExceeded));
  CHECK(worker->observed.write_failed.WaitForNotificationWithTimeout(absl::Seconds(5)));
}

TEST_CASE("A response over the size limit mid-stream ends it with RESOURCE_EXHAUSTED") {
  const bool in_process = GENERATE(false, true);
  INFO((in_process ? "in-process worker" : "worker on a Unix socket"));
  std::unique_ptr<Worker> worker = MakeWorker(in_process);
  std::shared_ptr<HostStream> stream = worker->Open(kChat, absl::Seconds(10));
  EchoReply reply;
  REQUIRE(stream->Write(Text("small")));
  REQUIRE(stream->Read(&reply));
  REQUIRE(stream->Write(Text("big")));
  CHECK_FALSE(stream->Read(&reply));
  CHECK_THAT(stream->Finish(), StatusIs(absl::StatusCode::kResourceExhausted, "Chat"));
}

TEST_CASE("A request over the size limit mid-stream ends it with RESOURCE_EXHAUSTED") {
  std::unique_ptr<Worker> worker = MakeWorker(false);
  std::shared_ptr<HostStream> stream = worker->Open(kChat, absl::Seconds(10));
  EchoReply reply;
  REQUIRE(stream->Write(Text("small")));
  REQUIRE(stream->Read(&reply));
  CHECK_FALSE(stream->Write(Text("x", std::string(kMaxMessageBytes + 1, 'x'))));
  CHECK_THAT(stream->Finish(), StatusIs(absl::StatusCode::kResourceExhausted, "Chat"));
}

TEST_CASE("A handler's error after some responses reaches the host after them") {
  const bool in_process = GENERATE(false, true);
  INFO((in_process ? "in-process worker" : "worker on a Unix socket"));
  std::unique_ptr<Worker> worker = MakeWorker(in_process);
  std::shared_ptr<HostStream> stream = worker->Open(kCount, absl::Seconds(10));
  REQUIRE(stream->Write(Text("3", "fail")));
  stream->CloseWrites();
  EchoReply reply;
  int read = 0;
  while (stream->Read(&reply)) ++read;
  CHECK(read == 3);
  CHECK_THAT(stream->Finish(),
             StatusIs(absl::StatusCode::kFailedPrecondition, "failed after 3 replies"));
}

TEST_CASE("Finish without reading every response still gets the final status") {
  std::unique_ptr<Worker> worker = MakeWorker(false);
  std::shared_ptr<HostStream> stream = worker->Open(kCount, absl::Seconds(10));
  // More than the window: the worker's status is behind responses never read.
  REQUIRE(stream->Write(Text("100", "fail")));
  const absl::Time start = absl::Now();
  CHECK_THAT(stream->Finish(),
             StatusIs(absl::StatusCode::kFailedPrecondition, "failed after 100 replies"));
  CHECK(absl::Now() - start < absl::Seconds(5));
}

TEST_CASE("A unary call on the same worker works while a stream is open") {
  auto worker = std::make_unique<InProcessWorker>();
  std::shared_ptr<HostStream> stream = worker->Open(kChat, absl::Seconds(10));
  EchoReply reply;
  REQUIRE(stream->Write(Text("before")));
  REQUIRE(stream->Read(&reply));
  EchoReply unary;
  CHECK_THAT(worker->endpoint().Call(kEcho, Text("unary"), &unary, Timing(absl::Seconds(5))),
             IsOk());
  CHECK(unary.text() == "unary");
  REQUIRE(stream->Write(Text("after")));
  REQUIRE(stream->Read(&reply));
  CHECK(reply.text() == "after");
  stream->CloseWrites();
  CHECK_THAT(stream->Finish(), IsOk());
}

}  // namespace
