// A worker serving iwtest.TestService (tests/workers/test_handler.h), used by
// the end-to-end tests.
//
// With $IW_TEST_READY_REPORT set, it writes to that file, just before it
// sends its ready byte, what it is made of at that moment: one line per
// thread ("thread NAME") and "grpc_initialized 0|1". The host has the whole
// file once Spawn() returns.
#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include <grpc/grpc.h>

#include "runtime/worker/ready_hook.h"
#include "tests/workers/test_handler.h"
#include "tests/workers/test_service.iw.h"

namespace {

// The name (comm) of thread `tid` of this process.
std::string ThreadName(const char* tid) {
  std::string path = std::string("/proc/self/task/") + tid + "/comm";
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "?";
  char name[64];
  ssize_t n = ::read(fd, name, sizeof(name));
  ::close(fd);
  if (n <= 0) return "?";
  std::string result(name, static_cast<size_t>(n));
  while (!result.empty() && result.back() == '\n') result.pop_back();
  return result;
}

void WriteReadyReport() {
  const char* report_path = std::getenv("IW_TEST_READY_REPORT");
  if (report_path == nullptr) return;
  std::string report;
  if (DIR* tasks = ::opendir("/proc/self/task")) {
    while (dirent* entry = ::readdir(tasks)) {
      if (entry->d_name[0] == '.') continue;
      report += "thread " + ThreadName(entry->d_name) + "\n";
    }
    ::closedir(tasks);
  }
  report += std::string("grpc_initialized ") + (grpc_is_initialized() ? "1" : "0") + "\n";
  int fd = ::open(report_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;  // the test sees no report
  ssize_t ignored = ::write(fd, report.data(), report.size());
  (void)ignored;
  ::close(fd);
}

}  // namespace

int main(int argc, char** argv) {
  iw::internal::SetBeforeReadyHookForTesting(WriteReadyReport);
  iwtest::TestHandler handler;
  return iwtest::RunTestServiceWorker(argc, argv, handler);
}
