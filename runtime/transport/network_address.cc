#include "runtime/transport/network_address.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace iw::internal {
namespace {

// "HOST:PORT" or "[V6]:PORT" whose host is "localhost" or a loopback IP
// literal. A name that merely starts with "127." is not one.
bool IsLocalHostPort(absl::string_view host_port) {
  absl::string_view host = host_port;
  if (absl::ConsumePrefix(&host, "[")) {
    const size_t end = host.find(']');
    if (end == absl::string_view::npos) return false;
    in6_addr v6;
    return ::inet_pton(AF_INET6, std::string(host.substr(0, end)).c_str(), &v6) == 1 &&
           IN6_IS_ADDR_LOOPBACK(&v6);
  }
  const size_t colon = host.rfind(':');
  if (colon != absl::string_view::npos) host = host.substr(0, colon);
  if (host == "localhost") return true;
  in_addr v4;
  return ::inet_pton(AF_INET, std::string(host).c_str(), &v4) == 1 &&
         (ntohl(v4.s_addr) >> 24) == 127;
}

}  // namespace

bool IsLocalAddress(absl::string_view address) {
  if (absl::StartsWith(address, "unix:") || absl::StartsWith(address, "unix-abstract:")) {
    return true;
  }
  if (absl::ConsumePrefix(&address, "dns:")) {
    // dns:HOST:PORT, dns:///HOST:PORT or dns://RESOLVER/HOST:PORT: one name.
    if (absl::ConsumePrefix(&address, "//")) {
      const size_t slash = address.find('/');
      if (slash == absl::string_view::npos) return false;
      address.remove_prefix(slash + 1);
    }
    return IsLocalHostPort(address);
  }
  if (absl::ConsumePrefix(&address, "ipv4:") || absl::ConsumePrefix(&address, "ipv6:")) {
    // A static list: every member must be local.
    if (address.empty()) return false;
    for (absl::string_view member : absl::StrSplit(address, ',')) {
      if (!IsLocalHostPort(member)) return false;
    }
    return true;
  }
  return IsLocalHostPort(address);
}

absl::Status CheckPlaintextAllowed(absl::string_view address, absl::string_view what) {
  if (IsLocalAddress(address)) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("refusing to ", what, " ", address,
                   " without TLS: plain text is allowed only on loopback and Unix sockets"));
}

}  // namespace iw::internal
