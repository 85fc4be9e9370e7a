// The two ways the tests of this package start a TestService host: a
// spawned worker process, or the same handler in-process. Switching is the
// one line in StartHost().
#ifndef IW_TESTS_INPROCESS_HOST_MODES_H_
#define IW_TESTS_INPROCESS_HOST_MODES_H_

#include <memory>
#include <string>
#include <utility>

#include "catch2/catch.hpp"
#include "runtime/testing/fault_injector.h"
#include "runtime/testing/status_matchers.h"
#include "tests/testing/carrier.h"
#include "tests/testing/process_hygiene.h"
#include "tests/workers/test_handler.h"
#include "tests/workers/test_service.iw.h"

namespace iwtest {

enum class Mode { kSpawned, kInProcess };

inline const char* ModeName(Mode mode) {
  return mode == Mode::kSpawned ? "spawned worker" : "in-process";
}

// Starts a host in `mode`; REQUIREs success. Spawned workers use the carrier
// under test ($IW_TEST_TRANSPORT, see tests/testing/carrier.h); in-process
// hosts serve `handler`, with `faults` if given.
inline std::unique_ptr<TestServiceHost> StartHost(Mode mode, TestHandler& handler,
                                                  iw::WorkerOptions options = {},
                                                  const TestServiceMethodConfig& methods = {},
                                                  iw::testing::FaultInjector* faults = nullptr) {
  absl::StatusOr<std::unique_ptr<TestServiceHost>> host;
  if (mode == Mode::kSpawned) {
    options.executable = iw::testing::RunfilePath("tests/workers/test_worker");
    options.transport = iw::testing::TestTransport();
    host = TestServiceHost::Spawn(std::move(options), methods);
  } else if (faults != nullptr) {
    host = TestServiceHost::InProcess(handler, *faults, std::move(options), methods);
  } else {
    host = TestServiceHost::InProcess(handler, std::move(options), methods);
  }
  REQUIRE_THAT(host.status(), iw::testing::IsOk());
  return std::move(*host);
}

}  // namespace iwtest

namespace Catch {
template <>
struct StringMaker<iwtest::Mode> {
  static std::string convert(iwtest::Mode mode) { return iwtest::ModeName(mode); }
};
}  // namespace Catch

#endif  // IW_TESTS_INPROCESS_HOST_MODES_H_
