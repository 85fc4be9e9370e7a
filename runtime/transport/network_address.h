// -----------------------------------------------------------------------------
// File: transport/network_address.h
// -----------------------------------------------------------------------------
//
// FOR INTERNAL USE. Which gRPC addresses may carry plain text: only those that
// never leave this machine (Unix sockets, loopback). Everything else needs TLS.
#ifndef IW_RUNTIME_TRANSPORT_NETWORK_ADDRESS_H_
#define IW_RUNTIME_TRANSPORT_NETWORK_ADDRESS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace iw::internal {

// True for "unix:/path", "localhost:PORT", "127.x.y.z:PORT", "[::1]:PORT"
// (optionally with an "ipv4:"/"ipv6:"/"dns:///" scheme), and for gRPC's
// static lists ("ipv4:127.0.0.1:7000,127.0.0.1:7001") when every member is.
// Hosts are IP literals or "localhost": a DNS name such as
// "127.example.com" is not local.
bool IsLocalAddress(absl::string_view address);

// OK for a local address; INVALID_ARGUMENT naming the address otherwise.
// `what` says who wants plain text ("connect to", "listen on").
absl::Status CheckPlaintextAllowed(absl::string_view address, absl::string_view what);

}  // namespace iw::internal

#endif  // IW_RUNTIME_TRANSPORT_NETWORK_ADDRESS_H_
