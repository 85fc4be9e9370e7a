// FOR INTERNAL USE. The environment a spawned worker gets.
#ifndef IW_RUNTIME_INTERNAL_SPAWN_ENVIRONMENT_H_
#define IW_RUNTIME_INTERNAL_SPAWN_ENVIRONMENT_H_

#include <map>
#include <string>
#include <vector>

#include "runtime/options.h"

namespace iw::internal {

// The worker's environment as "KEY=VALUE" strings: the host's environment,
// then `options.env` on top, then `framework` (the runtime's own variables,
// which always win).
std::vector<std::string> WorkerEnvironment(
    const WorkerOptions& options, const std::map<std::string, std::string>& framework);

}  // namespace iw::internal

#endif  // IW_RUNTIME_INTERNAL_SPAWN_ENVIRONMENT_H_
