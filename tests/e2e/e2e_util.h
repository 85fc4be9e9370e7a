// Shared setup of the end-to-end tests: paths of the helper workers, and
// spawning the TestService worker.
#ifndef IW_TESTS_E2E_E2E_UTIL_H_
#define IW_TESTS_E2E_E2E_UTIL_H_

#include <memory>
#include <string>
#include <utility>

#include "catch2/catch.hpp"
#include "runtime/options.h"
#include "tests/testing/process_hygiene.h"
#include "tests/testing/status_matchers.h"
#include "tests/workers/test_service.iw.h"

namespace iw::testing {

inline std::string TestWorkerPath() { return RunfilePath("tests/workers/test_worker"); }

// Options that spawn the TestService worker.
inline WorkerOptions TestWorkerOptions() {
  WorkerOptions options;
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

}  // namespace iw::testing

#endif  // IW_TESTS_E2E_E2E_UTIL_H_
