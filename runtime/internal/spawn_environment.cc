#include "runtime/internal/spawn_environment.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

extern char** environ;

namespace iw::internal {

std::vector<std::string> WorkerEnvironment(
    const WorkerOptions& options, const std::map<std::string, std::string>& framework) {
  std::map<std::string, std::string> env;
  for (char** var = environ; var != nullptr && *var != nullptr; ++var) {
    absl::string_view entry = *var;
    size_t eq = entry.find('=');
    if (eq == absl::string_view::npos) continue;
    env[std::string(entry.substr(0, eq))] = std::string(entry.substr(eq + 1));
  }
  for (const auto& [key, value] : options.env) env[key] = value;
  for (const auto& [key, value] : framework) env[key] = value;
  std::vector<std::string> result;
  result.reserve(env.size());
  for (const auto& [key, value] : env) result.push_back(absl::StrCat(key, "=", value));
  return result;
}

}  // namespace iw::internal
