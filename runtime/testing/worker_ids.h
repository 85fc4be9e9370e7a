// -----------------------------------------------------------------------------
// File: testing/worker_ids.h
// -----------------------------------------------------------------------------
//
// Error messages name the worker they concern ("worker Calculator#3 (pid
// 4242) crashed: ..."); the number and pid change from run to run and
// between spawned and in-process workers. `RedactWorkerIds` replaces them so
// that tests can compare whole messages, e.g. a simulated crash with a real
// one.
//
// Example:
//
//   CHECK(iw::testing::RedactWorkerIds(status.message()) ==
//         "demo.Calculator.Add: worker Calculator#<id> crashed: "
//         "killed by signal SIGSEGV (Segmentation fault)");

#ifndef IW_RUNTIME_TESTING_WORKER_IDS_H_
#define IW_RUNTIME_TESTING_WORKER_IDS_H_

#include <string>

#include "absl/strings/string_view.h"

namespace iw::testing {

// Rewrites every worker id "<Service>#<n> (pid <pid>)" and "<Service>#<n>
// (in-process)" in `message` as "<Service>#<id>".
std::string RedactWorkerIds(absl::string_view message);

}  // namespace iw::testing

#endif  // IW_RUNTIME_TESTING_WORKER_IDS_H_
