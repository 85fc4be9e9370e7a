// No descriptor of the host reaches a worker except those the framework
// passes on purpose: stdin/stdout/stderr, the gRPC socket (3) and the control
// socket (4).
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

#include <map>
#include <memory>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "catch2/catch.hpp"
#include "runtime/process/subprocess.h"
#include "tests/testing/carrier.h"
#include "tests/testing/process_hygiene.h"
#include "tests/testing/status_matchers.h"
#include "tests/workers/test_service.iw.h"

namespace {

using iw::testing::IsOk;
using iw::testing::NoChildProcesses;

// fd number → link target ("/path", "socket:[123]", "pipe:[456]") of every
// open descriptor of process `pid`.
std::map<int, std::string> OpenFds(int pid) {
  std::map<int, std::string> fds;
  const std::string dir_path = absl::StrCat("/proc/", pid, "/fd");
  DIR* dir = ::opendir(dir_path.c_str());
  REQUIRE(dir != nullptr);
  while (struct dirent* entry = ::readdir(dir)) {
    int fd;
    if (!absl::SimpleAtoi(entry->d_name, &fd)) continue;
    char target[PATH_MAX];
    ssize_t n = ::readlink(absl::StrCat(dir_path, "/", fd).c_str(), target, sizeof(target));
    if (n > 0) fds[fd] = std::string(target, static_cast<size_t>(n));
  }
  ::closedir(dir);
  return fds;
}

std::string LinkOf(int fd) {
  char target[PATH_MAX];
  ssize_t n = ::readlink(absl::StrCat("/proc/self/fd/", fd).c_str(), target, sizeof(target));
  REQUIRE(n > 0);
  return std::string(target, static_cast<size_t>(n));
}

TEST_CASE(
    "Descriptors: a descriptor the host opened without O_CLOEXEC does not reach "
    "the worker",
    "[hardening][e2e]") {
  {
    // Deliberately inheritable descriptors, as a careless library would
    // leave them: a file and both ends of a pipe.
    const char* tmp = std::getenv("TEST_TMPDIR");
    const std::string canary = absl::StrCat(tmp ? tmp : "/tmp", "/iw_leak_canary_", ::getpid());
    int file_fd = ::open(canary.c_str(), O_RDWR | O_CREAT | O_TRUNC, 0600);
    REQUIRE(file_fd >= 0);
    int pipe_fds[2];
    REQUIRE(::pipe(pipe_fds) == 0);
    const std::string file_link = LinkOf(file_fd);
    const std::string pipe_link = LinkOf(pipe_fds[0]);

    iw::WorkerOptions options = iw::testing::CarrierOptions();
    options.executable = iw::testing::RunfilePath("tests/workers/test_worker");
    auto host = iwtest::TestServiceHost::Spawn(options);
    REQUIRE_THAT(host.status(), IsOk());
    std::map<int, std::string> worker_fds = OpenFds((*host)->pid());
    INFO("worker descriptors:");
    for (const auto& [fd, target] : worker_fds) UNSCOPED_INFO(fd << " -> " << target);
    for (const auto& [fd, target] : worker_fds) {
      CHECK(target != file_link);
      CHECK(target != pipe_link);
    }
    // The framework's own: the two sockets at 3 and 4.
    REQUIRE(worker_fds.count(3) == 1);
    REQUIRE(worker_fds.count(4) == 1);
    CHECK(absl::StartsWith(worker_fds[3], "socket:"));
    CHECK(absl::StartsWith(worker_fds[4], "socket:"));
    CHECK_THAT((*host)->Close(), IsOk());

    ::close(file_fd);
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    ::unlink(canary.c_str());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE("Subprocess: descriptors between the passed ones are closed too", "[hardening]") {
  {
    // Map /dev/null to fd 9 only; the child's fds 3..8 must all be closed
    // even though our own fds 3..8 may be open without O_CLOEXEC.
    int leak = ::open("/dev/null", O_RDONLY);  // no O_CLOEXEC, likely a low number
    REQUIRE(leak >= 0);
    int source = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    REQUIRE(source >= 0);
    iw::internal::SpawnSpec spec;
    spec.executable = "/bin/sh";
    // Exit 0 iff only 0, 1, 2 and 9 are open.
    spec.argv = {"/bin/sh", "-c",
                 "for fd in 3 4 5 6 7 8; do "
                 "  if [ -e /proc/$$/fd/$fd ]; then exit 1; fi; done; "
                 "[ -e /proc/$$/fd/9 ] || exit 2"};
    spec.fds = {{source, 9}};
    auto child = iw::internal::Subprocess::Start(spec);
    REQUIRE_THAT(child.status(), IsOk());
    std::optional<iw::internal::ExitStatus> status =
        (*child)->Wait(absl::Now() + absl::Seconds(10));
    REQUIRE(status.has_value());
    CHECK(status->ToString() == "exit code 0");
    ::close(leak);
    ::close(source);
  }
  CHECK(NoChildProcesses());
}

}  // namespace
