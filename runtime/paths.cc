#include "runtime/paths.h"

#include <limits.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"

namespace iw {

std::string SiblingExecutable(absl::string_view name) {
  char self[PATH_MAX];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  std::string path = n > 0 ? std::string(self, n) : std::string();
  return absl::StrCat(path.substr(0, path.rfind('/') + 1), name);
}

}  // namespace iw
