// A worker started by hand (--iw_listen=unix:PATH): path checks, stale
// sockets, socket permissions, and hostile bytes from a raw client.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <grpcpp/channel.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/impl/client_unary_call.h>
#include <grpcpp/impl/codegen/proto_utils.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/byte_buffer.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "catch2/catch.hpp"
#include "runtime/process/subprocess.h"
#include "runtime/process/unique_fd.h"
#include "tests/hardening/hardening_util.h"
#include "tests/testing/process_hygiene.h"
#include "tests/testing/status_matchers.h"
#include "tests/workers/test_service.pb.h"

extern char** environ;

namespace {

using iw::internal::ExitStatus;
using iw::internal::SpawnSpec;
using iw::internal::Subprocess;
using iw::internal::UniqueFd;
using iw::testing::IsOk;
using iw::testing::NoChildProcesses;
using iw::testing::ShortTempDir;

SpawnSpec WorkerSpec(const std::string& listen, int stderr_fd = -1) {
  SpawnSpec spec;
  spec.executable = iw::testing::RunfilePath("tests/workers/test_worker");
  spec.argv = {spec.executable, "--iw_listen=" + listen};
  spec.env = iw::testing::CurrentEnvironment();
  spec.stderr_fd = stderr_fd;
  return spec;
}

// A raw AF_UNIX stream connection to `path` (deadline 10 s to appear).
UniqueFd ConnectRaw(const std::string& path) {
  struct sockaddr_un address;
  std::memset(&address, 0, sizeof(address));
  address.sun_family = AF_UNIX;
  std::memcpy(address.sun_path, path.data(), path.size());
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (true) {
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(fd.valid());
    if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0) {
      return fd;
    }
    REQUIRE(absl::Now() < deadline);
    absl::SleepFor(absl::Milliseconds(5));
  }
}

// Sends `bytes`, then reads whatever comes back until EOF or 2 s pass.
std::string SendRaw(const std::string& path, const std::string& bytes) {
  UniqueFd fd = ConnectRaw(path);
  ssize_t sent = ::send(fd.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
  (void)sent;  // the worker may hang up mid-way: that is fine
  struct timeval timeout = {2, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  std::string received;
  char buffer[4096];
  const absl::Time deadline = absl::Now() + absl::Seconds(2);
  while (absl::Now() < deadline) {
    ssize_t n = ::recv(fd.get(), buffer, sizeof(buffer), 0);
    if (n <= 0) break;
    received.append(buffer, static_cast<size_t>(n));
  }
  return received;
}

class StandaloneWorker {
 public:
  explicit StandaloneWorker(const std::string& socket_path) : socket_(socket_path) {
    auto process = Subprocess::Start(WorkerSpec("unix:" + socket_));
    REQUIRE_THAT(process.status(), IsOk());
    process_ = std::move(*process);
    ConnectRaw(socket_);  // wait until it listens
    channel_ = grpc::CreateChannel("unix:" + socket_, grpc::InsecureChannelCredentials());
    REQUIRE(channel_->WaitForConnected(absl::ToChronoTime(absl::Now() + absl::Seconds(10))));
  }

  ~StandaloneWorker() {
    channel_.reset();
    process_->Signal(SIGTERM);
    std::optional<ExitStatus> status = process_->Wait(absl::Now() + absl::Seconds(10));
    CHECK(status.has_value());
    if (status) CHECK(status->success());
  }

  template <typename Request, typename Reply>
  grpc::Status Call(const char* path, const Request& request, Reply* reply) {
    grpc::internal::RpcMethod method(path, grpc::internal::RpcMethod::NORMAL_RPC);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    return grpc::internal::BlockingUnaryCall<Request, Reply>(channel_.get(), method, &context,
                                                             request, reply);
  }

  bool Echoes() {
    iwtest::EchoRequest request;
    request.set_text("still serving");
    iwtest::EchoReply reply;
    grpc::Status status = Call("/iwtest.TestService/Echo", request, &reply);
    return status.ok() && reply.text() == "still serving";
  }

  Subprocess& process() { return *process_; }

 private:
  std::string socket_;
  std::unique_ptr<Subprocess> process_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_CASE(
    "Standalone worker: a socket path over the sun_path limit is refused with "
    "exit code 2, naming the path and the limit",
    "[hardening][e2e]") {
  {
    ShortTempDir dir;
    const std::string path = dir.path() + "/" + std::string(120, 'x') + ".sock";
    const std::string log = dir.path() + "/stderr.txt";
    int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    REQUIRE(log_fd >= 0);
    auto process = Subprocess::Start(WorkerSpec("unix:" + path, log_fd));
    ::close(log_fd);
    REQUIRE_THAT(process.status(), IsOk());
    std::optional<ExitStatus> status = (*process)->Wait(absl::Now() + absl::Seconds(10));
    REQUIRE(status.has_value());
    CHECK(status->ToString() == "exit code 2");
    std::stringstream text;
    text << std::ifstream(log).rdbuf();
    CHECK_THAT(text.str(), Catch::Contains(path));
    CHECK_THAT(text.str(), Catch::Contains("limited to 107 bytes (108 with the terminating NUL)"));
    struct stat st;
    CHECK(::stat(path.substr(0, 107).c_str(), &st) != 0);  // nothing truncated was created
  }
  CHECK(NoChildProcesses());
}

TEST_CASE(
    "Standalone worker: a stale socket file at the path does not block a new "
    "worker",
    "[hardening][e2e]") {
  {
    ShortTempDir dir;
    const std::string path = dir.path() + "/w.sock";
    {
      // Leave a socket file behind, as a SIGKILLed worker would.
      UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
      struct sockaddr_un address;
      std::memset(&address, 0, sizeof(address));
      address.sun_family = AF_UNIX;
      std::memcpy(address.sun_path, path.data(), path.size());
      REQUIRE(::bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
    }
    StandaloneWorker worker(path);
    CHECK(worker.Echoes());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE(
    "Standalone worker: a second worker on a live worker's path exits 2 and the "
    "first keeps serving",
    "[hardening][e2e]") {
  {
    ShortTempDir dir;
    const std::string path = dir.path() + "/w.sock";
    StandaloneWorker first(path);
    int dev_null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
    auto second = Subprocess::Start(WorkerSpec("unix:" + path, dev_null));
    ::close(dev_null);
    REQUIRE_THAT(second.status(), IsOk());
    std::optional<ExitStatus> status = (*second)->Wait(absl::Now() + absl::Seconds(10));
    REQUIRE(status.has_value());
    CHECK(status->ToString() == "exit code 2");
    CHECK(first.Echoes());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Standalone worker: a process of another user cannot connect", "[hardening][e2e]") {
  if (::geteuid() != 0) {
    WARN("not root: cannot run a process under another uid; skipped");
    return;
  }
  {
    ShortTempDir dir;
    // Let anyone traverse the directory, so only the socket's own mode is
    // in the way.
    REQUIRE(::chmod(dir.path().c_str(), 0711) == 0);
    const std::string path = dir.path() + "/w.sock";
    StandaloneWorker worker(path);
    sockaddr_un addr = {};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
      // As "nobody": async-signal-safe calls only.
      if (::setgid(65534) != 0 || ::setuid(65534) != 0) ::_exit(3);
      int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
      if (fd < 0) ::_exit(4);
      if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0) ::_exit(0);
      ::_exit(errno == EACCES ? 1 : 2);
    }
    int status = 0;
    REQUIRE(::waitpid(child, &status, 0) == child);
    REQUIRE(WIFEXITED(status));
    if (WEXITSTATUS(status) == 3) {
      // E.g. inside a user namespace that maps only root.
      WARN("cannot switch to uid 65534 here; skipped");
    } else {
      CHECK(WEXITSTATUS(status) == 1);  // connect() refused with EACCES
    }
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Standalone worker: the listening socket is owner-only (mode 0600)", "[hardening][e2e]") {
  {
    ShortTempDir dir;
    const std::string path = dir.path() + "/w.sock";
    StandaloneWorker worker(path);
    struct stat st;
    REQUIRE(::stat(path.c_str(), &st) == 0);
    CHECK(S_ISSOCK(st.st_mode));
    CHECK((st.st_mode & 0777) == 0600);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE(
    "Standalone worker: garbage, truncated HTTP/2 frames and malformed protobuf "
    "get errors, and the worker keeps serving",
    "[hardening][e2e]") {
  {
    ShortTempDir dir;
    const std::string path = dir.path() + "/w.sock";
    StandaloneWorker worker(path);
    const std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

    SECTION("random bytes") {
      std::mt19937 random(7);
      for (int round = 0; round < 20; ++round) {
        std::string junk(1 + random() % 4096, '\0');
        for (char& c : junk) c = static_cast<char>(random());
        SendRaw(path, junk);
      }
    }
    SECTION("an HTTP/1.1 request") { SendRaw(path, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); }
    SECTION("a truncated HTTP/2 frame after the preface") {
      // SETTINGS frame header announcing 6 bytes, with only 2 sent.
      SendRaw(path, preface + std::string("\x00\x00\x06\x04\x00\x00\x00\x00\x00\x00\x03", 11));
    }
    SECTION("an oversized HTTP/2 frame length") {
      SendRaw(path, preface + std::string("\xff\xff\xff\x00\x00\x00\x00\x00\x01", 9) +
                        std::string(1000, 'A'));
    }
    SECTION("HEADERS with a garbage HPACK block") {
      std::string settings("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9);
      std::string headers("\x00\x00\x10\x01\x05\x00\x00\x00\x01", 9);
      SendRaw(path, preface + settings + headers + std::string(16, '\xff'));
    }
    SECTION("a gRPC call whose body is not a valid protobuf") {
      grpc::Slice garbage(std::string("\x0a\xff\xff\xff\xff\x0f trailing", 15));
      grpc::ByteBuffer bytes(&garbage, 1);
      grpc::ByteBuffer out;
      grpc::Status bad = worker.Call("/iwtest.TestService/Echo", bytes, &out);
      CHECK(bad.error_code() == grpc::StatusCode::INVALID_ARGUMENT);
      CHECK_THAT(bad.error_message(), Catch::Contains("malformed request"));
    }
    SECTION("a gRPC call to an unknown method") {
      grpc::Slice empty(std::string(""));
      grpc::ByteBuffer bytes(&empty, 1);
      grpc::ByteBuffer out;
      grpc::Status bad = worker.Call("/iwtest.TestService/NoSuchMethod", bytes, &out);
      CHECK(bad.error_code() == grpc::StatusCode::UNIMPLEMENTED);
    }
    CHECK(worker.process().TryReap() == std::nullopt);  // still running
    CHECK(worker.Echoes());
  }
  CHECK(NoChildProcesses());
}

}  // namespace
