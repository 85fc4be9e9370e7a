// Shared helpers of the hardening tests.
#ifndef IW_TESTS_HARDENING_HARDENING_UTIL_H_
#define IW_TESTS_HARDENING_HARDENING_UTIL_H_

#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <optional>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "catch2/catch.hpp"

namespace iw::testing {

// Waits for a forked child until `deadline`; kills (SIGKILL) and reaps it if
// it is still running then. Returns its wait status, or nullopt if it had to
// be killed.
inline std::optional<int> WaitChild(pid_t pid, absl::Time deadline) {
  while (true) {
    int status = 0;
    pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0) return std::nullopt;
    if (absl::Now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return std::nullopt;
    }
    absl::SleepFor(absl::Milliseconds(2));
  }
}

// A private directory with a short path under /tmp (TEST_TMPDIR is too long
// for a Unix socket path), removed with its contents on destruction.
class ShortTempDir {
 public:
  ShortTempDir() {
    char dir_template[] = "/tmp/iwh-XXXXXX";
    REQUIRE(::mkdtemp(dir_template) != nullptr);
    path_ = dir_template;
  }
  ~ShortTempDir() {
    std::string command = absl::StrCat("rm -rf '", path_, "'");
    int ignored = std::system(command.c_str());
    (void)ignored;
  }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// The line of /proc/<pid>/limits starting with `name` (e.g. "Max core file
// size"), or "" if absent.
inline std::string ProcLimitsLine(int pid, const std::string& name) {
  std::ifstream limits(absl::StrCat("/proc/", pid, "/limits"));
  std::string line;
  while (std::getline(limits, line)) {
    if (absl::StartsWith(line, name)) return line;
  }
  return "";
}

// Whether this binary (and so the workers, built with the same flags) runs
// under a sanitizer that reserves huge amounts of virtual memory.
constexpr bool kSanitizerReservesAddressSpace =
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer) || \
    __has_feature(memory_sanitizer)
    true;
#else
    false;
#endif
#else
    false;
#endif

}  // namespace iw::testing

#endif  // IW_TESTS_HARDENING_HARDENING_UTIL_H_
