// Remote workers: a worker started by hand serving TCP (TLS or loopback plain
// text), reached through the generated Connect().
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "catch2/catch.hpp"
#include "runtime/process/subprocess.h"
#include "tests/e2e/e2e_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/workers/test_service.iw.h"

namespace {

using iw::internal::SpawnSpec;
using iw::internal::Subprocess;
using iw::testing::IsOk;
using iw::testing::NoChildProcesses;
using iw::testing::StatusIs;
using iwtest::TestServiceHost;

std::string TempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir ? dir : "/tmp";
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// A CA and a certificate for 127.0.0.1/localhost signed by it, made with the
// openssl command-line tool.
struct Certificates {
  std::string ca, cert, key;  // paths
};

Certificates MakeCertificates(const std::string& name) {
  const std::string dir = absl::StrCat(TempDir(), "/", name);
  Certificates c{dir + "/ca.pem", dir + "/cert.pem", dir + "/key.pem"};
  const std::string script = absl::StrCat(
      "set -e; mkdir -p ", dir, "; cd ", dir,
      "; openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=iw-test-ca-", name,
      " -keyout ca.key -out ca.pem 2>/dev/null"
      "; openssl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout key.pem -out req.csr"
      " 2>/dev/null"
      "; printf 'subjectAltName=IP:127.0.0.1,DNS:localhost' > ext.cnf"
      "; openssl x509 -req -in req.csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 2"
      " -extfile ext.cnf -out cert.pem 2>/dev/null");
  REQUIRE(std::system(script.c_str()) == 0);
  return c;
}

int FreeLoopbackPort() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  return ntohs(addr.sin_port);
}

bool PortAccepts(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr = {};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  ::close(fd);
  return ok;
}

// The test worker started by hand with extra flags; stopped with SIGTERM.
class HandStartedWorker {
 public:
  explicit HandStartedWorker(std::vector<std::string> flags) {
    SpawnSpec spec;
    spec.executable = iw::testing::TestWorkerPath();
    spec.argv = {spec.executable};
    spec.argv.insert(spec.argv.end(), flags.begin(), flags.end());
    spec.env = iw::testing::CurrentEnvironment();
    auto process = Subprocess::Start(spec);
    REQUIRE(process.ok());
    process_ = std::move(*process);
  }
  ~HandStartedWorker() {
    process_->Signal(SIGTERM);
    CHECK(process_->Wait(absl::Now() + absl::Seconds(10)).has_value());
  }
  bool WaitUntilServing(int port) {
    absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (absl::Now() < deadline) {
      if (PortAccepts(port)) return true;
      if (process_->TryReap().has_value()) return false;
      absl::SleepFor(absl::Milliseconds(10));
    }
    return false;
  }
  Subprocess& process() { return *process_; }

 private:
  std::unique_ptr<Subprocess> process_;
};

TEST_CASE("Remote: Connect() reaches a worker serving TLS with a test certificate",
          "[e2e][remote]") {
  {
    Certificates certs = MakeCertificates("tls-ok");
    const int port = FreeLoopbackPort();
    const std::string address = absl::StrCat("127.0.0.1:", port);
    HandStartedWorker worker({"--iw_listen=" + address, "--iw_tls_cert=" + certs.cert,
                              "--iw_tls_key=" + certs.key});
    REQUIRE(worker.WaitUntilServing(port));

    iw::RemoteOptions remote;
    remote.tls_root_certs = ReadFile(certs.ca);
    auto host = TestServiceHost::Connect({address}, remote);
    REQUIRE_THAT(host.status(), IsOk());
    CHECK((*host)->pid() == 0);  // not ours
    CHECK_THAT((*host)->worker_id(), Catch::Contains("(" + address + ")"));

    iwtest::EchoRequest echo;
    echo.set_text("over TLS");
    absl::StatusOr<iwtest::EchoReply> reply = (*host)->Echo(echo);
    REQUIRE_THAT(reply.status(), IsOk());
    CHECK(reply->text() == "over TLS");
    CHECK(reply->pid() == worker.process().pid());
    // Deadlines and their messages are the same as with spawned workers.
    iwtest::SleepRequest slow;
    slow.set_ms(1000);
    iw::CallOptions quick;
    quick.timeout = absl::Milliseconds(50);
    CHECK_THAT((*host)->Sleep(slow, quick).status(),
               StatusIs(absl::StatusCode::kDeadlineExceeded,
                        "iwtest.TestService.Sleep: deadline exceeded after 50ms"));
    // Closing the host closes our connection only; the worker keeps serving.
    CHECK_THAT((*host)->Close(), IsOk());
    CHECK_FALSE(worker.process().TryReap().has_value());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Remote: a certificate from another CA fails Connect() with a clear status",
          "[e2e][remote]") {
  {
    Certificates certs = MakeCertificates("tls-served");
    Certificates other = MakeCertificates("tls-other");
    const int port = FreeLoopbackPort();
    const std::string address = absl::StrCat("127.0.0.1:", port);
    HandStartedWorker worker({"--iw_listen=" + address, "--iw_tls_cert=" + certs.cert,
                              "--iw_tls_key=" + certs.key});
    REQUIRE(worker.WaitUntilServing(port));
    iw::RemoteOptions remote;
    remote.tls_root_certs = ReadFile(other.ca);
    remote.connect_timeout = absl::Seconds(5);
    absl::Status status = TestServiceHost::Connect({address}, remote).status();
    CHECK_THAT(status, StatusIs(absl::StatusCode::kUnavailable,
                                "connect to worker for iwtest.TestService at " + address));
    CHECK_THAT(std::string(status.message()), Catch::Contains("CERTIFICATE_VERIFY_FAILED") ||
                                     Catch::Contains("handshake"));
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Remote: plain text is allowed on loopback and refused elsewhere", "[e2e][remote]") {
  {
    const int port = FreeLoopbackPort();
    const std::string address = absl::StrCat("127.0.0.1:", port);
    HandStartedWorker worker({"--iw_listen=" + address});
    REQUIRE(worker.WaitUntilServing(port));
    auto host = TestServiceHost::Connect({address});
    REQUIRE_THAT(host.status(), IsOk());
    CHECK_THAT((*host)->Echo(iwtest::EchoRequest()).status(), IsOk());
  }
  // A documentation address (TEST-NET-1): refused before any connection.
  CHECK_THAT(TestServiceHost::Connect({"192.0.2.1:5000"}).status(),
             StatusIs(absl::StatusCode::kInvalidArgument,
                      "refusing to connect to 192.0.2.1:5000 without TLS"));
  CHECK_THAT(TestServiceHost::Connect({}).status(),
             StatusIs(absl::StatusCode::kInvalidArgument, "no address given"));
  CHECK(NoChildProcesses());
}

TEST_CASE("Remote: a worker refuses to serve plain text on a non-loopback address",
          "[e2e][remote]") {
  SpawnSpec spec;
  spec.executable = iw::testing::TestWorkerPath();
  spec.argv = {spec.executable, "--iw_listen=0.0.0.0:1"};
  int dev_null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  spec.stderr_fd = dev_null;
  auto process = Subprocess::Start(spec);
  ::close(dev_null);
  REQUIRE(process.ok());
  auto status = (*process)->Wait(absl::Now() + absl::Seconds(10));
  REQUIRE(status.has_value());
  CHECK(status->ToString() == "exit code 2");
  CHECK(NoChildProcesses());
}

}  // namespace
