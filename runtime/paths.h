// -----------------------------------------------------------------------------
// File: paths.h
// -----------------------------------------------------------------------------
//
// Finding a worker binary that is installed or built next to the host binary
// (the usual layout with Bazel: `data = [":my_worker"]` in the same package).
//
// Example:
//
//   iw::WorkerOptions options;
//   options.executable = iw::SiblingExecutable("ping_worker");

#ifndef IW_RUNTIME_PATHS_H_
#define IW_RUNTIME_PATHS_H_

// First: a clear message when the compiler is not in C++17 mode.
#include "runtime/requirements.h"

#include <string>

#include "absl/strings/string_view.h"

namespace iw {

// The path of `name` in the directory of the running executable
// (/proc/self/exe, symlinks resolved). Does not check that it exists: a
// missing file shows up as Spawn()'s NOT_FOUND, naming the path.
std::string SiblingExecutable(absl::string_view name);

}  // namespace iw

#endif  // IW_RUNTIME_PATHS_H_
