#include "runtime/testing/worker_ids.h"

#include <regex>

namespace iw::testing {

std::string RedactWorkerIds(absl::string_view message) {
  static const std::regex* const kWorkerId =
      new std::regex(R"(([A-Za-z_][A-Za-z0-9_]*)#[0-9]+ \((pid [0-9]+|in-process)\))");
  return std::regex_replace(std::string(message), *kWorkerId, "$1#<id>");
}

}  // namespace iw::testing
