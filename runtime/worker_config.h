// -----------------------------------------------------------------------------
// File: worker_config.h
// -----------------------------------------------------------------------------
//
// Worker-side settings (`WorkerConfig`), given to the generated
// `Run<Service>Worker(argc, argv, handler, config)`.

#ifndef IW_RUNTIME_WORKER_CONFIG_H_
#define IW_RUNTIME_WORKER_CONFIG_H_

// First: a clear message when the compiler is not in C++17 mode.
#include "runtime/requirements.h"

#include <memory>
#include <vector>

#include "runtime/middleware.h"

namespace iw {

// Worker-side settings, given to the generated
// `Run<Service>Worker(argc, argv, handler, config)`.
struct WorkerConfig {
  // Runs around every handler, in order (see the top of this file).
  std::vector<std::shared_ptr<WorkerMiddleware>> middleware;
};

}  // namespace iw

#endif  // IW_RUNTIME_WORKER_CONFIG_H_
