#include "runtime/host/spawn_environment.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

extern char** environ;

namespace iw::internal {
namespace {

bool MatchesAny(const std::vector<std::string>& patterns, absl::string_view name) {
  for (const std::string& pattern : patterns) {
    if (EnvNameMatches(pattern, name)) return true;
  }
  return false;
}

}  // namespace

bool EnvNameMatches(absl::string_view pattern, absl::string_view name) {
  if (absl::ConsumeSuffix(&pattern, "*")) return absl::StartsWith(name, pattern);
  return pattern == name;
}

std::vector<std::string> WorkerEnvironmentFrom(
    const std::vector<std::string>& host_environment, const WorkerOptions& options,
    const std::map<std::string, std::string>& framework) {
  std::map<std::string, std::string> env;
  if (options.environment_mode != EnvironmentMode::kClean) {
    for (absl::string_view entry : host_environment) {
      size_t eq = entry.find('=');
      if (eq == absl::string_view::npos || eq == 0) continue;
      absl::string_view name = entry.substr(0, eq);
      if (options.environment_mode == EnvironmentMode::kAllowList &&
          !MatchesAny(options.env_allow_list, name)) {
        continue;
      }
      if (MatchesAny(options.env_remove, name)) continue;
      env[std::string(name)] = std::string(entry.substr(eq + 1));
    }
  }
  for (const auto& [key, value] : options.env) env[key] = value;
  for (const auto& [key, value] : framework) env[key] = value;
  std::vector<std::string> result;
  result.reserve(env.size());
  for (const auto& [key, value] : env) result.push_back(absl::StrCat(key, "=", value));
  return result;
}

std::vector<std::string> WorkerEnvironment(const WorkerOptions& options,
                                           const std::map<std::string, std::string>& framework) {
  std::vector<std::string> host;
  for (char** var = environ; var != nullptr && *var != nullptr; ++var) host.emplace_back(*var);
  return WorkerEnvironmentFrom(host, options, framework);
}

}  // namespace iw::internal
