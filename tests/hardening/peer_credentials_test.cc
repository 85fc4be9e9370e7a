// The ready message's kernel-verified credentials, tested directly with a
// socketpair and a forked child.
#include "runtime/transport/peer_credentials.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "catch2/catch.hpp"
#include "runtime/process/unique_fd.h"
#include "runtime/wire/control_protocol.h"
#include "tests/hardening/hardening_util.h"
#include "tests/testing/process_hygiene.h"
#include "tests/testing/status_matchers.h"

namespace iw::internal {
namespace {

using ::iw::testing::IsOk;
using ::iw::testing::NoChildProcesses;
using ::iw::testing::StatusIs;
using ::iw::testing::WaitChild;

struct Pair {
  UniqueFd host;
  UniqueFd worker;
};

Pair MakePair() {
  int fds[2];
  REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) == 0);
  return {UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// Forks a child that sends the ready message on `worker_fd` and exits.
pid_t ForkSender(int worker_fd) {
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) ::_exit(SendReady(worker_fd).ok() ? 0 : 1);
  return pid;
}

// Polls `fd` until readable (deadline 10 s), then calls ReceiveReady.
absl::StatusOr<ReadyState> ReceiveWithin(int fd, pid_t expected_pid) {
  struct pollfd pfd = {fd, POLLIN, 0};
  REQUIRE(::poll(&pfd, 1, 10000) == 1);
  return ReceiveReady(fd, expected_pid);
}

TEST_CASE("ReceiveReady: a ready message from the expected child is accepted", "[hardening]") {
  {
    Pair pair = MakePair();
    REQUIRE_THAT(EnablePeerCredentials(pair.host.get()), IsOk());
    pid_t child = ForkSender(pair.worker.get());
    absl::StatusOr<ReadyState> state = ReceiveWithin(pair.host.get(), child);
    REQUIRE_THAT(state.status(), IsOk());
    CHECK(*state == ReadyState::kReady);
    std::optional<int> status = WaitChild(child, absl::Now() + absl::Seconds(10));
    REQUIRE(status.has_value());
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 0);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE(
    "ReceiveReady: a ready message with a schema is kReadyWithSchema, and "
    "ReceiveSchema reads the schema that follows",
    "[hardening]") {
  {
    Pair pair = MakePair();
    REQUIRE_THAT(EnablePeerCredentials(pair.host.get()), IsOk());
    const std::string schema = "iwtest.TestService 0123456789abcdef";
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) ::_exit(SendReady(pair.worker.get(), schema).ok() ? 0 : 1);
    absl::StatusOr<ReadyState> state = ReceiveWithin(pair.host.get(), child);
    REQUIRE_THAT(state.status(), IsOk());
    CHECK(*state == ReadyState::kReadyWithSchema);
    absl::StatusOr<std::string> received =
        ReceiveSchema(pair.host.get(), absl::Now() + absl::Seconds(10));
    REQUIRE_THAT(received.status(), IsOk());
    CHECK(*received == schema);
    std::optional<int> status = WaitChild(child, absl::Now() + absl::Seconds(10));
    REQUIRE(status.has_value());
    CHECK(WIFEXITED(*status));
    CHECK(WEXITSTATUS(*status) == 0);
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("ReceiveSchema: a worker that closes its end mid-frame is UNAVAILABLE", "[hardening]") {
  Pair pair = MakePair();
  const char partial[] = {4, 0, 'a'};  // announces 4 bytes, sends 1
  REQUIRE(::send(pair.worker.get(), partial, sizeof(partial), MSG_NOSIGNAL) == 3);
  pair.worker.reset();
  CHECK_THAT(ReceiveSchema(pair.host.get(), absl::Now() + absl::Seconds(10)).status(),
             StatusIs(absl::StatusCode::kUnavailable, "mid-message"));
}

TEST_CASE("ReceiveReady: a ready message from another pid is PERMISSION_DENIED", "[hardening]") {
  {
    Pair pair = MakePair();
    REQUIRE_THAT(EnablePeerCredentials(pair.host.get()), IsOk());
    pid_t child = ForkSender(pair.worker.get());
    // We "spawned" ourselves, as far as the check knows: the child is an
    // impostor.
    absl::StatusOr<ReadyState> state = ReceiveWithin(pair.host.get(), ::getpid());
    CHECK_THAT(state.status(),
               StatusIs(absl::StatusCode::kPermissionDenied,
                        absl::StrCat("came from pid ", child, " uid ", ::getuid())));
    CHECK_THAT(state.status(),
               StatusIs(absl::StatusCode::kPermissionDenied,
                        absl::StrCat("expected the spawned worker: pid ", ::getpid())));
    WaitChild(child, absl::Now() + absl::Seconds(10));
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("ReceiveReady: without SO_PASSCRED on the host end the message is refused",
          "[hardening]") {
  {
    Pair pair = MakePair();
    pid_t child = ForkSender(pair.worker.get());
    absl::StatusOr<ReadyState> state = ReceiveWithin(pair.host.get(), child);
    CHECK_THAT(state.status(), StatusIs(absl::StatusCode::kPermissionDenied, "no credentials"));
    WaitChild(child, absl::Now() + absl::Seconds(10));
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("ReceiveReady: nothing sent yet is kPending and a closed peer is kClosed",
          "[hardening]") {
  Pair pair = MakePair();
  REQUIRE_THAT(EnablePeerCredentials(pair.host.get()), IsOk());
  absl::StatusOr<ReadyState> pending = ReceiveReady(pair.host.get(), 1);
  REQUIRE_THAT(pending.status(), IsOk());
  CHECK(*pending == ReadyState::kPending);
  pair.worker.reset();
  absl::StatusOr<ReadyState> closed = ReceiveReady(pair.host.get(), 1);
  REQUIRE_THAT(closed.status(), IsOk());
  CHECK(*closed == ReadyState::kClosed);
}

TEST_CASE("ReceiveReady: a byte other than the ready byte is a protocol error", "[hardening]") {
  Pair pair = MakePair();
  REQUIRE_THAT(EnablePeerCredentials(pair.host.get()), IsOk());
  const char junk = 'x';
  REQUIRE(::send(pair.worker.get(), &junk, 1, MSG_NOSIGNAL) == 1);
  // Same process on both ends: the credentials match getpid().
  CHECK_THAT(ReceiveReady(pair.host.get(), ::getpid()).status(),
             StatusIs(absl::StatusCode::kInternal, "protocol error"));
}

TEST_CASE("SendReady: a host that is gone gives an error, not SIGPIPE", "[hardening]") {
  Pair pair = MakePair();
  pair.host.reset();
  absl::Status sent = SendReady(pair.worker.get());
  CHECK_FALSE(sent.ok());
  CHECK_THAT(std::string(sent.message()), Catch::Contains("send ready message"));
}

}  // namespace
}  // namespace iw::internal
