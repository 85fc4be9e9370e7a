// Serves iwtest.TestService like test_worker, except that a start fails on
// purpose while the directory named by $IW_TEST_FAIL_START_DIR holds a file:
// each start removes one (the removal is atomic, so concurrent starts never
// claim the same one) and exits with code 3 before it is ready (its
// WorkerConfig::on_start fails). A test makes
// exactly N replacements fail by creating N files.
#include <dirent.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "tests/workers/test_handler.h"
#include "tests/workers/test_service.iw.h"

namespace {

bool ClaimFailure(const char* dir_path) {
  DIR* dir = ::opendir(dir_path);
  if (dir == nullptr) return false;
  bool claimed = false;
  while (struct dirent* entry = ::readdir(dir)) {
    const std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    if (::unlink((std::string(dir_path) + "/" + name).c_str()) == 0) {
      claimed = true;
      break;
    }
  }
  ::closedir(dir);
  return claimed;
}

}  // namespace

int main(int argc, char** argv) {
  iw::WorkerConfig config;
  // In on_start, so that every start claims (a fork server runs main() up
  // to RunWorker() only once).
  config.on_start = []() -> absl::Status {
    const char* dir = std::getenv("IW_TEST_FAIL_START_DIR");
    if (dir != nullptr && ClaimFailure(dir)) {
      return absl::UnavailableError("flaky_start_worker: failing this start on purpose");
    }
    return absl::OkStatus();
  };
  iwtest::TestHandler handler;
  return iwtest::RunTestServiceWorker(argc, argv, handler, config);
}
