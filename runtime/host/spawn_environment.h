// FOR INTERNAL USE. The environment a spawned worker gets.
#ifndef IW_RUNTIME_HOST_SPAWN_ENVIRONMENT_H_
#define IW_RUNTIME_HOST_SPAWN_ENVIRONMENT_H_

#include <map>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "runtime/options.h"

namespace iw::internal {

// The worker's environment as "KEY=VALUE" strings, sorted by name: the
// host's environment filtered by `options.environment_mode` (and
// `env_allow_list`), minus `options.env_remove`, then `options.env` on top,
// then `framework` (the runtime's own variables, which always win).
std::vector<std::string> WorkerEnvironment(const WorkerOptions& options,
                                           const std::map<std::string, std::string>& framework);

// Same, from an explicit host environment (for tests).
std::vector<std::string> WorkerEnvironmentFrom(const std::vector<std::string>& host_environment,
                                               const WorkerOptions& options,
                                               const std::map<std::string, std::string>& framework);

// Whether `name` matches `pattern`: equal, or `pattern` ends in '*' and
// `name` starts with the rest ("LC_*" matches "LC_ALL").
bool EnvNameMatches(absl::string_view pattern, absl::string_view name);

}  // namespace iw::internal

#endif  // IW_RUNTIME_HOST_SPAWN_ENVIRONMENT_H_
