#include "runtime/metadata.h"

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace iw {

absl::Status ValidateMetadataEntry(absl::string_view key, absl::string_view value) {
  if (key.empty()) return absl::InvalidArgumentError("metadata key is empty");
  for (char c : key) {
    if (!(absl::ascii_islower(c) || absl::ascii_isdigit(c) || c == '-' || c == '_' || c == '.')) {
      return absl::InvalidArgumentError(
          absl::StrCat("metadata key \"", absl::CEscape(key), "\" is not lowercase [0-9a-z_.-]+"));
    }
  }
  if (absl::StartsWith(key, "iw-") || absl::StartsWith(key, "grpc-")) {
    return absl::InvalidArgumentError(
        absl::StrCat("metadata key \"", key, "\" uses a reserved prefix (iw- or grpc-)"));
  }
  if (!absl::EndsWith(key, "-bin")) {
    for (char c : value) {
      if (c < 0x20 || c > 0x7e) {
        return absl::InvalidArgumentError(
            absl::StrCat("metadata value of \"", key,
                         "\" is not printable ASCII (binary values need a key ending in -bin)"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace iw
