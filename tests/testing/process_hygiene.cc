#include "tests/testing/process_hygiene.h"

#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "runtime/process/fork_server.h"

namespace iw::testing {

bool NoChildProcesses(absl::Duration grace) {
  // A fork server with no worker left lingers by design (StartMode):
  // close it, as a host that wants no idle process would.
  iw::internal::CloseIdleForkServers();
  absl::Time deadline = absl::Now() + grace;
  while (true) {
    siginfo_t info = {};
    int r = ::waitid(P_ALL, 0, &info, WEXITED | WNOHANG | WNOWAIT);
    if (r < 0 && errno == ECHILD) return true;
    if (absl::Now() >= deadline) return false;
    absl::SleepFor(absl::Milliseconds(10));
  }
}

int OpenFdCount() {
  iw::internal::CloseIdleForkServers();
  int count = 0;
  DIR* dir = ::opendir("/proc/self/fd");
  if (dir == nullptr) return -1;
  while (struct dirent* entry = ::readdir(dir)) {
    if (entry->d_name[0] != '.') ++count;
  }
  ::closedir(dir);
  return count - 1;  // the DIR's own descriptor
}

int BaselineFdCount(absl::Duration window) {
  iw::internal::CloseIdleForkServers();
  const absl::Time end = absl::Now() + window;
  int lowest = OpenFdCount();
  while (absl::Now() < end) {
    absl::SleepFor(absl::Milliseconds(5));
    lowest = std::min(lowest, OpenFdCount());
  }
  return lowest;
}

int WaitForFdCount(int expected, absl::Duration deadline) {
  iw::internal::CloseIdleForkServers();  // its connection is a descriptor
  const absl::Time end = absl::Now() + deadline;
  int count = OpenFdCount();
  while (count != expected && absl::Now() < end) {
    absl::SleepFor(absl::Milliseconds(5));
    count = OpenFdCount();
  }
  return count;
}

std::string RunfilePath(const std::string& workspace_relative) {
  // CTest (cmake/IwTests.cmake): the build tree has the binaries at their
  // Bazel paths. First, as a Bazel test may run CTest.
  const char* data_dir = std::getenv("IW_TEST_DATA_DIR");
  if (data_dir != nullptr) return absl::StrCat(data_dir, "/", workspace_relative);
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  if (srcdir == nullptr) return workspace_relative;
  return absl::StrCat(srcdir, "/", workspace ? workspace : "isolated_workers", "/",
                      workspace_relative);
}

std::vector<std::string> CurrentEnvironment() {
  std::vector<std::string> env;
  for (char** var = environ; *var != nullptr; ++var) env.push_back(*var);
  return env;
}

bool ProcessAlive(int pid) {
  std::ifstream stat(absl::StrCat("/proc/", pid, "/stat"));
  if (!stat) return false;
  std::string line;
  std::getline(stat, line);
  size_t paren = line.rfind(')');
  if (paren == std::string::npos || paren + 2 >= line.size()) return false;
  char state = line[paren + 2];
  return state != 'Z' && state != 'X';
}

}  // namespace iw::testing
