#include "runtime/host/remote_endpoint.h"

#include <arpa/inet.h>
#include <grpc/grpc.h>
#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/impl/client_unary_call.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/byte_buffer.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <optional>
#include <thread>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "runtime/codegen_support/host_support.h"
#include "runtime/common/status_macros.h"
#include "runtime/host/crash_details.h"
#include "runtime/host/worker_pool.h"
#include "runtime/transport/network_address.h"
#include "runtime/wire/call_failure.h"
#include "runtime/wire/grpc_config.h"
#include "runtime/wire/grpc_workarounds.h"
#include "runtime/wire/schema.h"
#include "runtime/wire/status_conversion.h"

namespace iw::internal {
namespace {

std::atomic<int> g_next_remote_number{1};

// How often the monitor asks every worker's health service (stats only:
// rotation is gRPC's own health checking, which watches continuously).
constexpr absl::Duration kHealthPollInterval = absl::Milliseconds(500);
constexpr absl::Duration kHealthCheckTimeout = absl::Seconds(1);
// How often the monitor re-resolves a DNS name to count its workers.
constexpr absl::Duration kReresolveInterval = absl::Seconds(5);

// Asks for a method no worker has: UNIMPLEMENTED proves a worker is there,
// healthy (round_robin picks only those) and speaks gRPC, and its trailers
// carry the worker's service schema (nullopt from a worker too old to send
// it); anything else says why not (refused, TLS failure, not serving...).
absl::StatusOr<std::optional<ServiceSchema>> Probe(grpc::Channel* channel, absl::Time deadline) {
  grpc::internal::RpcMethod method("/iw.internal.Connect/Probe",
                                   grpc::internal::RpcMethod::NORMAL_RPC);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(deadline));
  grpc::Slice empty("", 0);
  grpc::ByteBuffer request(&empty, 1), response;
  grpc::Status status = grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
      channel, method, &context, request, &response);
  if (status.error_code() != grpc::StatusCode::UNIMPLEMENTED) return FromGrpcStatus(status);
  const auto& trailers = context.GetServerTrailingMetadata();
  auto it = trailers.find(kSchemaMetadataKey);
  if (it == trailers.end()) return std::optional<ServiceSchema>();
  absl::StatusOr<ServiceSchema> schema =
      DecodeSchema(absl::string_view(it->second.data(), it->second.size()));
  if (!schema.ok()) return schema.status();
  return std::optional<ServiceSchema>(*std::move(schema));
}

// grpc.health.v1.Health/Check of the server's overall status (an empty
// HealthCheckRequest: service ""), as the channel's own health checks ask.
// Sent as raw bytes so that no copy of health.proto is linked into user
// binaries. True if SERVING, or if the worker has no health service (an
// older build: gRPC's own health checking treats it as healthy too).
bool CheckHealth(grpc::Channel* channel) {
  static const grpc::internal::RpcMethod* const kCheck = new grpc::internal::RpcMethod(
      "/grpc.health.v1.Health/Check", grpc::internal::RpcMethod::NORMAL_RPC);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + kHealthCheckTimeout));
  grpc::Slice empty("", 0);
  grpc::ByteBuffer request_bytes(&empty, 1), response;
  grpc::Status status = grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
      channel, *kCheck, &context, request_bytes, &response);
  if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) return true;
  if (!status.ok()) return false;
  return ByteBufferToString(response) == std::string("\x08\x01", 2);  // status = SERVING
}

std::string ConnectWhat(const codegen::ServiceInfo& service, absl::string_view address) {
  return absl::StrCat("connect to worker for ", service.full_name, " at ", address);
}

// Plain text (no TLS roots) only to local addresses.
absl::Status CheckTransportAllowed(const codegen::ServiceInfo& service, const std::string& address,
                                   const RemoteOptions& remote) {
  if (!remote.tls_root_certs.empty()) return absl::OkStatus();
  absl::Status allowed = CheckPlaintextAllowed(address, "connect to");
  if (allowed.ok()) return allowed;
  return absl::InvalidArgumentError(absl::StrCat(ConnectWhat(service, address), ": ",
                                                 allowed.message(),
                                                 " (set RemoteOptions::tls_root_certs)"));
}

// "HOST:PORT" / "[V6]:PORT" → HOST, PORT ("" if none).
void SplitHostPort(absl::string_view host_port, std::string* host, std::string* port) {
  if (absl::ConsumePrefix(&host_port, "[")) {
    const size_t end = host_port.find(']');
    *host = std::string(host_port.substr(0, end));
    host_port.remove_prefix(end == absl::string_view::npos ? host_port.size() : end + 1);
    *port = absl::ConsumePrefix(&host_port, ":") ? std::string(host_port) : "";
    return;
  }
  const size_t colon = host_port.rfind(':');
  *host = std::string(host_port.substr(0, colon));
  *port = colon == absl::string_view::npos ? "" : std::string(host_port.substr(colon + 1));
}

bool IsIpv4Literal(const std::string& host) {
  in_addr a;
  return ::inet_pton(AF_INET, host.c_str(), &a) == 1;
}
bool IsIpv6Literal(const std::string& host) {
  in6_addr a;
  return ::inet_pton(AF_INET6, host.c_str(), &a) == 1;
}

// What a DNS name currently resolves to, as single-address targets.
std::vector<std::string> ResolveMembers(const std::string& host, const std::string& port) {
  std::vector<std::string> members;
  addrinfo hints = {};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (::getaddrinfo(host.c_str(), port.c_str(), &hints, &found) != 0) return members;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    char text[INET6_ADDRSTRLEN] = {};
    if (a->ai_family == AF_INET) {
      ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(a->ai_addr)->sin_addr, text,
                  sizeof(text));
      members.push_back(absl::StrCat("ipv4:", text, ":", port));
    } else if (a->ai_family == AF_INET6) {
      ::inet_ntop(AF_INET6, &reinterpret_cast<sockaddr_in6*>(a->ai_addr)->sin6_addr, text,
                  sizeof(text));
      members.push_back(absl::StrCat("ipv6:[", text, "]:", port));
    }
  }
  ::freeaddrinfo(found);
  std::sort(members.begin(), members.end());
  members.erase(std::unique(members.begin(), members.end()), members.end());
  return members;
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> MakeCredentials(
    const std::string& what, const RemoteOptions& remote) {
  if (remote.tls_root_certs.empty()) return grpc::InsecureChannelCredentials();
  if (remote.tls_cert_chain.empty() != remote.tls_private_key.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": RemoteOptions needs both tls_cert_chain and tls_private_key, or neither"));
  }
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = remote.tls_root_certs;
  ssl.pem_cert_chain = remote.tls_cert_chain;
  ssl.pem_private_key = remote.tls_private_key;
  return grpc::SslCredentials(ssl);
}

// Settings shared by the calls channel and the monitor's channels.
void SetCommonArguments(const RemoteTarget& target, const RemoteOptions& remote,
                        grpc::ChannelArguments* args) {
  const std::string tls_name =
      !remote.tls_server_name.empty() ? remote.tls_server_name : target.tls_name;
  if (!remote.tls_root_certs.empty() && !tls_name.empty()) {
    args->SetSslTargetNameOverride(tls_name);
  }
  // A worker that comes back is used again within this bound (gRPC's
  // default backoff grows to 120 s).
  const int max_backoff_ms = static_cast<int>(
      std::max<int64_t>(100, absl::ToInt64Milliseconds(remote.max_reconnect_backoff)));
  args->SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, max_backoff_ms);
  args->SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, std::min(1000, max_backoff_ms));
}

// Counts the workers that answer their health service, for stats(). The
// calls never depend on it: rotation is gRPC's.
class HealthMonitor final : public Membership {
 public:
  HealthMonitor(RemoteTarget target, std::shared_ptr<grpc::ChannelCredentials> credentials,
                grpc::ChannelArguments args)
      : target_(std::move(target)), credentials_(std::move(credentials)), args_(std::move(args)) {
    Round();  // counts are right from the start
    thread_ = std::thread([this] { Loop(); });
  }
  ~HealthMonitor() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    thread_.join();
  }

  // {ready, configured}.
  std::pair<int, int> Counts() const override {
    absl::MutexLock lock(&mu_);
    return {ready_, configured_};
  }

 private:
  void Loop() {
    while (true) {
      {
        absl::MutexLock lock(&mu_);
        auto stopped = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_; };
        if (mu_.AwaitWithTimeout(absl::Condition(&stopped), kHealthPollInterval)) return;
      }
      Round();
    }
  }

  // On the monitor thread (or the constructor's, before it starts).
  void Round() {
    if (!target_.dns_host.empty() && absl::Now() >= next_resolve_) {
      target_.members = ResolveMembers(target_.dns_host, target_.dns_port);
      next_resolve_ = absl::Now() + kReresolveInterval;
    }
    std::map<std::string, std::shared_ptr<grpc::Channel>> channels;
    int ready = 0;
    for (const std::string& member : target_.members) {
      auto it = channels_.find(member);
      std::shared_ptr<grpc::Channel> channel =
          it != channels_.end() ? it->second
                                : grpc::CreateCustomChannel(member, credentials_, args_);
      if (CheckHealth(channel.get())) ++ready;
      channels[member] = std::move(channel);
    }
    channels_ = std::move(channels);  // drops workers no longer listed
    absl::MutexLock lock(&mu_);
    ready_ = ready;
    configured_ = static_cast<int>(target_.members.size());
  }

  RemoteTarget target_;
  const std::shared_ptr<grpc::ChannelCredentials> credentials_;
  const grpc::ChannelArguments args_;
  std::map<std::string, std::shared_ptr<grpc::Channel>> channels_;
  absl::Time next_resolve_ = absl::InfinitePast();

  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  int ready_ ABSL_GUARDED_BY(mu_) = 0;
  int configured_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

// The host's connection: the pool (one endpoint, one channel) plus the
// health counts in stats().
}  // namespace

absl::StatusOr<RemoteTarget> MakeRemoteTarget(const codegen::ServiceInfo& service,
                                              const std::vector<std::string>& addresses) {
  const std::string what = absl::StrCat("connect to workers for ", service.full_name);
  if (addresses.empty())
    return absl::InvalidArgumentError(absl::StrCat(what, ": no address given"));
  RemoteTarget result;
  result.display = absl::StrJoin(addresses, ",");
  std::string scheme;  // of the static list
  std::vector<std::string> hosts;
  for (const std::string& address : addresses) {
    absl::string_view rest = address;
    std::string this_scheme;
    std::vector<std::string> members;
    if (absl::ConsumePrefix(&rest, "unix-abstract:")) {
      this_scheme = "unix-abstract";
    } else if (absl::ConsumePrefix(&rest, "unix:")) {
      this_scheme = "unix";
      absl::ConsumePrefix(&rest, "//");  // unix:///abs/path
    } else if (absl::ConsumePrefix(&rest, "ipv4:")) {
      this_scheme = "ipv4";
    } else if (absl::ConsumePrefix(&rest, "ipv6:")) {
      this_scheme = "ipv6";
    } else if (!absl::StartsWith(rest, "dns:")) {
      std::string host, port;
      SplitHostPort(rest, &host, &port);
      if (IsIpv4Literal(host)) this_scheme = "ipv4";
      if (IsIpv6Literal(host)) this_scheme = "ipv6";
    }
    if (this_scheme.empty()) {
      // A DNS name: gRPC resolves it (every address it has is a worker).
      if (addresses.size() > 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            what, ": ", address,
            " is a DNS name among other addresses; give one name whose records list every "
            "worker (dns:///NAME:PORT, re-resolved), or a list of IP literals or unix: paths"));
      }
      absl::string_view name = address;
      if (absl::ConsumePrefix(&name, "dns:") && absl::ConsumePrefix(&name, "//")) {
        name.remove_prefix(std::min(name.size(), name.find('/') + 1));
      }
      result.target = address;
      SplitHostPort(name, &result.dns_host, &result.dns_port);
      if (result.dns_port.empty()) result.dns_port = "443";
      result.tls_name = result.dns_host;  // for the monitor's per-address channels
      return result;
    }
    if (!scheme.empty() && scheme != this_scheme) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": ", address, " is an ", this_scheme, " address among ", scheme,
                       " ones; one Connect() takes addresses of one kind (a gRPC static target)"));
    }
    scheme = this_scheme;
    for (absl::string_view member : absl::StrSplit(rest, ',')) {
      if (member.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, ": ", address, " has an empty member"));
      }
      result.members.push_back(absl::StrCat(scheme, ":", member));
      if (scheme == "ipv4" || scheme == "ipv6") {
        std::string host, port;
        SplitHostPort(member, &host, &port);
        hosts.push_back(host);
      }
    }
  }
  std::vector<absl::string_view> paths;
  for (const std::string& member : result.members) {
    paths.push_back(absl::string_view(member).substr(scheme.size() + 1));
  }
  result.target = absl::StrCat(scheme, ":", absl::StrJoin(paths, ","));
  // TLS verifies the target's host: with several ports of one host that is
  // the host; several hosts need RemoteOptions::tls_server_name.
  if (!hosts.empty() && std::all_of(hosts.begin(), hosts.end(),
                                    [&](const std::string& h) { return h == hosts[0]; })) {
    result.tls_name = hosts[0];
  }
  return result;
}

RemoteEndpoint::RemoteEndpoint(const codegen::ServiceInfo& service, std::string target)
    : GrpcEndpoint(service), target_(std::move(target)) {}

absl::StatusOr<std::unique_ptr<RemoteEndpoint>> RemoteEndpoint::Connect(
    const codegen::ServiceInfo& service, const RemoteTarget& target, const RemoteOptions& remote) {
  const std::string what = ConnectWhat(service, target.display);
  IW_ASSIGN_OR_RETURN(std::shared_ptr<grpc::ChannelCredentials> credentials,
                      MakeCredentials(what, remote));
  if (!remote.tls_root_certs.empty() && target.members.size() > 1 && target.tls_name.empty() &&
      remote.tls_server_name.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(what,
                     ": TLS to workers on several hosts needs RemoteOptions::tls_server_name "
                     "(the name in their certificates)"));
  }
  const HostMessageLimits limits = HostLimits(service, nullptr);
  grpc::ChannelArguments args = HostChannelArguments(limits);
  SetCommonArguments(target, remote, &args);
  // gRPC's machinery does the failover: round_robin over every resolved
  // address whose connection is up and whose health service says SERVING.
  // The server's overall status (service name ""), not this service's: a
  // worker of another service must still answer Connect()'s probe, whose
  // schema check then names both services (FAILED_PRECONDITION). DNS TXT
  // records must not replace this config.
  args.SetServiceConfigJSON(R"({"loadBalancingConfig":[{"round_robin":{}}],)"
                            R"("healthCheckConfig":{"serviceName":""}})");
  args.SetInt(GRPC_ARG_SERVICE_CONFIG_DISABLE_RESOLUTION, 1);
  PinGrpcCallbackQueue();
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(target.target, credentials, args);
  // The probe reaches one worker (round_robin's pick); each worker's schema
  // is checked when it answers Connect()'s probe only, not when it joins
  // later.
  absl::StatusOr<std::optional<ServiceSchema>> reachable =
      Probe(channel.get(), absl::Now() + remote.connect_timeout);
  if (!reachable.ok()) {
    return Prefixed(reachable.status(), what);
  }
  if (reachable->has_value()) {
    if (absl::Status matches =
            CheckSchema(SchemaOf(service), **reachable, remote.schema_check, what);
        !matches.ok()) {
      return matches;
    }
  }
  std::unique_ptr<RemoteEndpoint> endpoint(new RemoteEndpoint(service, target.target));
  absl::string_view name = service.full_name;
  name = name.substr(name.rfind('.') + 1);
  endpoint->set_id(
      absl::StrCat(name, "#", g_next_remote_number.fetch_add(1), " (", target.display, ")"));
  // The call stream is one gRPC call, pinned to one worker: only for a
  // target that is exactly one worker, so that round_robin places every
  // call otherwise.
  const bool one_worker = target.dns_host.empty() && target.members.size() == 1;
  endpoint->AttachChannel(std::move(channel), limits, remote.call_stream && one_worker,
                          absl::Now() + remote.connect_timeout);
  return endpoint;
}

FailureDescription RemoteEndpoint::DescribeDeath() {
  return {absl::StrCat("worker ", id(), " is unreachable"), ""};
}

absl::Status RemoteEndpoint::ExplainUnavailable(int method_index, const absl::Status& transport) {
  WorkerCrash crash;
  crash.set_cause(WorkerCrash::CONNECTION_LOST);
  crash.set_worker_id(id());
  crash.set_method(MethodDisplayName(service(), method_index));
  // Lost with one of the workers the target reaches (gRPC's load balancer
  // moves later calls to another): kCallLost, the endpoint stays.
  return WithCrash(
      CallFailed(
          absl::StatusCode::kUnavailable, FailureCause::kCallLost,
          MethodDisplayName(service(), method_index),
          {absl::StrCat("connection to worker ", id(), " failed: ", transport.message()), ""}),
      crash);
}

absl::Status RemoteEndpoint::Close(const CloseOptions& options) {
  // Only our connections end; the remote processes keep running.
  StopAccepting();
  WaitForCalls(absl::Now() + options.grace);
  DetachChannel();
  return absl::OkStatus();
}

void RemoteEndpoint::Kill(const std::string& /*reason*/) {
  // No control over a remote process: drop the connection instead.
  DetachChannel();
}

absl::StatusOr<std::unique_ptr<WorkerPool>> ConnectPool(
    const codegen::ServiceInfo& service, const std::vector<std::string>& addresses,
    const RemoteOptions& remote, std::vector<MethodOverrides> method_overrides) {
  if (addresses.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("connect to workers for ", service.full_name, ": no address given"));
  }
  // Check every address before connecting to any.
  for (const std::string& address : addresses) {
    if (absl::Status allowed = CheckTransportAllowed(service, address, remote); !allowed.ok()) {
      return allowed;
    }
  }
  IW_ASSIGN_OR_RETURN(RemoteTarget target, MakeRemoteTarget(service, addresses));
  IW_ASSIGN_OR_RETURN(std::unique_ptr<RemoteEndpoint> endpoint,
                      RemoteEndpoint::Connect(service, target, remote));
  WorkerOptions options;
  options.call_timeout = remote.call_timeout;
  options.on_state_change = remote.on_state_change;
  options.middleware = remote.middleware;
  options.trace_propagator = remote.trace_propagator;
  options.log_sink = remote.log_sink;
  options.log_level = remote.log_level;
  options.respawn = RespawnPolicy::kNever;  // nothing to respawn
  PoolOptions pool;
  pool.min_workers = pool.max_workers = 1;  // one channel; gRPC balances
  auto monitor_credentials = MakeCredentials(service.full_name, remote);
  grpc::ChannelArguments monitor_args;
  SetCommonArguments(target, remote, &monitor_args);
  auto monitor = std::make_unique<HealthMonitor>(target, *monitor_credentials, monitor_args);
  // A bound per worker becomes one for the channel: the workers configured
  // at Connect() times the bound (round_robin spreads them evenly).
  const int configured = std::max(1, monitor->Counts().second);
  pool.max_calls_per_worker =
      remote.max_calls_per_worker > 0 ? remote.max_calls_per_worker * configured : 0;
  pool.max_queued_calls = remote.max_queued_calls;
  pool.idle_timeout = absl::InfiniteDuration();
  auto taken = std::make_shared<std::unique_ptr<RemoteEndpoint>>(std::move(endpoint));
  WorkerPool::Factory factory = [taken]() -> absl::StatusOr<std::unique_ptr<WorkerEndpoint>> {
    if (*taken == nullptr) {
      return absl::FailedPreconditionError("remote workers are never respawned");
    }
    return std::unique_ptr<WorkerEndpoint>(std::move(*taken));
  };
  absl::StatusOr<std::unique_ptr<WorkerPool>> started = WorkerPool::Start(
      service, std::move(options), std::move(method_overrides), pool, std::move(factory));
  if (!started.ok()) return started.status();
  (*started)->SetMembership(std::move(monitor));
  return std::move(*started);
}

}  // namespace iw::internal

namespace iw::codegen {

absl::StatusOr<StartedWorkers> ConnectWorkers(const ServiceInfo& service,
                                              const std::vector<std::string>& addresses,
                                              const RemoteOptions& remote,
                                              std::vector<MethodOverrides> method_overrides) {
  return StartedWorkers::Of(
      internal::ConnectPool(service, addresses, remote, std::move(method_overrides)));
}

}  // namespace iw::codegen
