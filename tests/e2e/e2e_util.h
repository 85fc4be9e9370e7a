// Shared setup of the end-to-end tests: paths of the helper workers, and
// spawning the TestService worker.
#ifndef IW_TESTS_E2E_E2E_UTIL_H_
#define IW_TESTS_E2E_E2E_UTIL_H_

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "catch2/catch.hpp"
#include "runtime/options.h"
#include "tests/testing/carrier.h"
#include "tests/testing/process_hygiene.h"
#include "tests/testing/status_matchers.h"
#include "tests/workers/test_service.iw.h"

namespace iw::testing {

inline std::string TestWorkerPath() { return RunfilePath("tests/workers/test_worker"); }

// Options that spawn the TestService worker over the carrier under test
// ($IW_TEST_TRANSPORT, see tests/testing/carrier.h).
inline WorkerOptions TestWorkerOptions() {
  WorkerOptions options = CarrierOptions();
  options.executable = TestWorkerPath();
  return options;
}

// Spawns the TestService worker; the test stops (REQUIRE) if that fails.
inline std::unique_ptr<iwtest::TestServiceHost> SpawnOrDie(
    WorkerOptions options = TestWorkerOptions(),
    const iwtest::TestServiceMethodConfig& methods = {}) {
  auto host = iwtest::TestServiceHost::Spawn(std::move(options), methods);
  REQUIRE_THAT(host.status(), IsOk());
  return std::move(*host);
}

// Spawns a pool of TestService workers (their stderr discarded); the test
// stops (REQUIRE) if that fails.
inline std::unique_ptr<iwtest::TestServiceHost> SpawnPoolOrDie(
    const PoolOptions& pool, const iwtest::TestServiceMethodConfig& methods = {}) {
  WorkerOptions options = TestWorkerOptions();
  options.stderr_mode = OutputMode::kDiscard;
  auto host = iwtest::TestServiceHost::SpawnPool(options, pool, methods);
  REQUIRE_THAT(host.status(), IsOk());
  return std::move(*host);
}

// Whether a server listens on the Unix socket at `path` (a connect
// succeeds). The socket file appears at bind(), a moment before listen(): a
// connect in between is refused, so wait for this, not for the file.
inline bool UnixSocketAccepts(const std::string& path) {
  const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, path.c_str(), sizeof(address.sun_path) - 1);
  const bool connected =
      ::connect(fd, reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0;
  ::close(fd);
  return connected;
}

// Collects the results of `n` async calls, one slot each; every wait has a
// deadline.
template <typename Reply>
class AsyncResults {
 public:
  explicit AsyncResults(int n) : results_(n, absl::UnknownError("no result")), left_(n) {}
  // The callback for call `i`.
  std::function<void(absl::StatusOr<Reply>)> Slot(int i) {
    return [this, i](absl::StatusOr<Reply> result) {
      absl::MutexLock lock(&mu_);
      results_[i] = std::move(result);
      --left_;
    };
  }
  // True once every slot has its result; false if `timeout` passed first.
  bool Wait(absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return left_ == 0; };
    return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
  }
  absl::StatusOr<Reply> operator[](int i) {
    absl::MutexLock lock(&mu_);
    return results_[i];
  }

 private:
  absl::Mutex mu_;
  std::vector<absl::StatusOr<Reply>> results_ ABSL_GUARDED_BY(mu_);
  int left_ ABSL_GUARDED_BY(mu_);
};

}  // namespace iw::testing

#endif  // IW_TESTS_E2E_E2E_UTIL_H_
