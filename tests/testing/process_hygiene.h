// Checks every process test ends with: no child process left (not even a
// zombie) and no descriptor leaked.
#ifndef IW_TESTS_TESTING_PROCESS_HYGIENE_H_
#define IW_TESTS_TESTING_PROCESS_HYGIENE_H_

#include <string>
#include <vector>

#include "absl/time/time.h"

namespace iw::testing {

// How much slower everything runs in this build: deadline-bound tests scale
// their bounds by it. ThreadSanitizer slows both the test and the workers it
// spawns by an order of magnitude.
#if defined(__SANITIZE_THREAD__)
inline constexpr int kSanitizerSlowdown = 10;
#else
inline constexpr int kSanitizerSlowdown = 1;
#endif

// True if this process has no child at all (waitpid(-1, WNOHANG) gives
// ECHILD). Waits up to `grace` for children that are exiting. Never reaps a
// live child: it only looks (WNOWAIT). Fork servers without workers
// (StartMode::kForkServer) are closed first: they linger by design.
bool NoChildProcesses(absl::Duration grace = absl::Seconds(2));

// Number of open descriptors of this process.
int OpenFdCount();

// The lowest OpenFdCount() seen over `window`: the baseline, without the
// descriptors that background threads (gRPC's, a host's being torn down)
// open and close on their own for a moment.
int BaselineFdCount(absl::Duration window = absl::Milliseconds(200));

// Waits up to `deadline` for OpenFdCount() to come back to `expected` (after
// closing fork servers without workers, as NoChildProcesses() does): a
// descriptor a destroyed host still had is closed by a background thread
// shortly after. Returns the last count (== expected on success), so that a
// real leak fails with the number.
int WaitForFdCount(int expected, absl::Duration deadline = absl::Seconds(5));

// Absolute path of a runfile, e.g. "tests/workers/test_worker": under CTest in
// $IW_TEST_DATA_DIR (the CMake build tree, where test binaries sit at their
// Bazel paths); under Bazel in $TEST_SRCDIR/$TEST_WORKSPACE; else relative to
// the working directory.
std::string RunfilePath(const std::string& workspace_relative);

// This process's environment as "KEY=VALUE" strings (for SpawnSpec::env).
std::vector<std::string> CurrentEnvironment();

// Whether a process with this pid exists (a zombie counts as gone).
bool ProcessAlive(int pid);

}  // namespace iw::testing

#endif  // IW_TESTS_TESTING_PROCESS_HYGIENE_H_
