// Shared setup of the end-to-end tests: paths of the helper workers.
#ifndef IW_TESTS_E2E_E2E_UTIL_H_
#define IW_TESTS_E2E_E2E_UTIL_H_

#include <string>

#include "runtime/options.h"
#include "tests/testing/process_hygiene.h"

namespace iw::testing {

inline std::string TestWorkerPath() { return RunfilePath("tests/workers/test_worker"); }

// Options that spawn the TestService worker.
inline WorkerOptions TestWorkerOptions() {
  WorkerOptions options;
  options.executable = TestWorkerPath();
  return options;
}

}  // namespace iw::testing

#endif  // IW_TESTS_E2E_E2E_UTIL_H_
