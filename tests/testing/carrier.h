// The carrier of spawned workers under test (WorkerOptions::transport) and
// how they start (WorkerOptions::start_mode). The carrier is chosen by the
// environment variable IW_TEST_TRANSPORT: "native" or unset
// gives WorkerTransport::kNative (the default), "grpc" gives kGrpc. Any other
// value stops the test binary at once, naming it: a typo must not silently
// test the default carrier twice.
//
// Every test that spawns workers builds its WorkerOptions from
// CarrierOptions() (or sets `transport` from TestTransport()), and the
// iw_carrier_test() macro (tests/testing/carriers.bzl) runs it once per
// carrier.
#ifndef IW_TESTS_TESTING_CARRIER_H_
#define IW_TESTS_TESTING_CARRIER_H_

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "runtime/options.h"

namespace iw::testing {

inline constexpr char kTestTransportVariable[] = "IW_TEST_TRANSPORT";

// The carrier named by $IW_TEST_TRANSPORT; aborts on an unknown name.
inline WorkerTransport TestTransport() {
  const char* name = std::getenv(kTestTransportVariable);
  if (name == nullptr || std::strcmp(name, "native") == 0) return WorkerTransport::kNative;
  if (std::strcmp(name, "grpc") == 0) return WorkerTransport::kGrpc;
  std::fprintf(stderr,
               "%s=\"%s\" names no carrier: use \"native\" (or leave it unset) or \"grpc\"\n",
               kTestTransportVariable, name);
  std::abort();
}

// "native" or "grpc", for messages.
inline const char* TestTransportName() {
  return TestTransport() == WorkerTransport::kGrpc ? "grpc" : "native";
}

inline constexpr char kTestStartModeVariable[] = "IW_TEST_START_MODE";

// How spawned workers start (WorkerOptions::start_mode), named by
// $IW_TEST_START_MODE: "exec" or unset gives StartMode::kExec,
// "fork_server" gives kForkServer; aborts on an unknown name.
inline StartMode TestStartMode() {
  const char* name = std::getenv(kTestStartModeVariable);
  if (name == nullptr || std::strcmp(name, "exec") == 0) return StartMode::kExec;
  if (std::strcmp(name, "fork_server") == 0) return StartMode::kForkServer;
  std::fprintf(stderr, "%s=\"%s\" names no start mode: use \"exec\" or \"fork_server\"\n",
               kTestStartModeVariable, name);
  std::abort();
}

// Default WorkerOptions but for the carrier and start mode under test: the
// starting point of every spawned worker's options in the tests.
inline WorkerOptions CarrierOptions() {
  WorkerOptions options;
  options.transport = TestTransport();
  options.start_mode = TestStartMode();
  return options;
}

}  // namespace iw::testing

#endif  // IW_TESTS_TESTING_CARRIER_H_
