#include "runtime/transport/network_address.h"

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"

namespace iw::internal {

bool IsLocalAddress(absl::string_view address) {
  if (absl::StartsWith(address, "unix:")) return true;
  absl::ConsumePrefix(&address, "dns:///");
  absl::ConsumePrefix(&address, "ipv4:");
  absl::ConsumePrefix(&address, "ipv6:");
  absl::string_view host = address;
  if (absl::ConsumePrefix(&host, "[")) {
    size_t end = host.find(']');
    if (end == absl::string_view::npos) return false;
    host = host.substr(0, end);
    return host == "::1";
  }
  size_t colon = host.rfind(':');
  if (colon != absl::string_view::npos) host = host.substr(0, colon);
  return host == "localhost" || absl::StartsWith(host, "127.");
}

absl::Status CheckPlaintextAllowed(absl::string_view address, absl::string_view what) {
  if (IsLocalAddress(address)) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      "refusing to ", what, " ", address,
      " without TLS: plain text is allowed only on loopback and Unix sockets"));
}

}  // namespace iw::internal
