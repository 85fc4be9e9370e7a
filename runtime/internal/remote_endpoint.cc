#include "runtime/internal/remote_endpoint.h"

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>
#include <grpcpp/impl/client_unary_call.h>
#include <grpcpp/impl/rpc_method.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/byte_buffer.h>

#include <atomic>
#include <optional>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "runtime/codegen_support/host_stub_base.h"
#include "runtime/internal/crash_details.h"
#include "runtime/internal/grpc_config.h"
#include "runtime/internal/grpc_workarounds.h"
#include "runtime/internal/schema.h"
#include "runtime/internal/status_conversion.h"
#include "runtime/internal/status_macros.h"
#include "runtime/internal/worker_pool.h"
#include "runtime/transport/network_address.h"

namespace iw::internal {
namespace {

std::atomic<int> g_next_remote_number{1};

// Asks for a method no worker has: UNIMPLEMENTED proves the worker is there
// and speaks gRPC, and its trailers carry the worker's service schema
// (nullopt from a worker too old to send it); anything else says why not
// (refused, TLS failure...).
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

std::string ConnectWhat(const ServiceInfo& service, absl::string_view address) {
  return absl::StrCat("connect to worker for ", service.full_name, " at ", address);
}

// Plain text (no TLS roots) only to local addresses.
absl::Status CheckTransportAllowed(const ServiceInfo& service, const std::string& address,
                                   const RemoteOptions& remote) {
  if (!remote.tls_root_certs.empty()) return absl::OkStatus();
  absl::Status allowed = CheckPlaintextAllowed(address, "connect to");
  if (allowed.ok()) return allowed;
  return absl::InvalidArgumentError(absl::StrCat(ConnectWhat(service, address), ": ",
                                                 allowed.message(),
                                                 " (set RemoteOptions::tls_root_certs)"));
}

}  // namespace

RemoteEndpoint::RemoteEndpoint(const ServiceInfo& service, std::string address)
    : GrpcEndpoint(service), address_(std::move(address)) {}

absl::StatusOr<std::unique_ptr<RemoteEndpoint>> RemoteEndpoint::Connect(
    const ServiceInfo& service, const std::string& address, const RemoteOptions& remote) {
  const std::string what = ConnectWhat(service, address);
  std::shared_ptr<grpc::ChannelCredentials> credentials;
  const HostMessageLimits limits = HostLimits(service, nullptr);
  grpc::ChannelArguments args = HostChannelArguments(limits);
  if (absl::Status allowed = CheckTransportAllowed(service, address, remote); !allowed.ok()) {
    return allowed;
  }
  if (remote.tls_root_certs.empty()) {
    credentials = grpc::InsecureChannelCredentials();
  } else {
    if (remote.tls_cert_chain.empty() != remote.tls_private_key.empty()) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": RemoteOptions needs both tls_cert_chain and tls_private_key, or neither"));
    }
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = remote.tls_root_certs;
    ssl.pem_cert_chain = remote.tls_cert_chain;
    ssl.pem_private_key = remote.tls_private_key;
    credentials = grpc::SslCredentials(ssl);
    if (!remote.tls_server_name.empty()) args.SetSslTargetNameOverride(remote.tls_server_name);
  }
  PinGrpcCallbackQueue();
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(address, credentials, args);
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
  std::unique_ptr<RemoteEndpoint> endpoint(new RemoteEndpoint(service, address));
  absl::string_view name = service.full_name;
  name = name.substr(name.rfind('.') + 1);
  endpoint->set_id(absl::StrCat(name, "#", g_next_remote_number.fetch_add(1), " (", address, ")"));
  endpoint->AttachChannel(std::move(channel), limits, remote.call_stream,
                          absl::Now() + remote.connect_timeout);
  return endpoint;
}

std::string RemoteEndpoint::DescribeDeath() {
  return absl::StrCat("worker ", id(), " is unreachable");
}

absl::Status RemoteEndpoint::ExplainUnavailable(int method_index,
                                                const absl::Status& transport) {
  WorkerCrash crash;
  crash.set_cause(WorkerCrash::CONNECTION_LOST);
  crash.set_worker_id(id());
  crash.set_method(MethodDisplayName(service(), method_index));
  return WithCrash(absl::UnavailableError(absl::StrCat(MethodDisplayName(service(), method_index),
                                                       ": connection to worker ", id(),
                                                       " failed: ", transport.message())),
                   crash);
}

absl::Status RemoteEndpoint::Close(const CloseOptions& options) {
  // Only our connection ends; the remote process keeps running.
  StopAccepting();
  WaitForCalls(absl::Now() + options.grace);
  DetachChannel();
  return absl::OkStatus();
}

void RemoteEndpoint::Kill(const std::string& /*reason*/) {
  // No control over a remote process: drop the connection instead.
  DetachChannel();
}

absl::StatusOr<std::unique_ptr<Connection>> ConnectWorkers(
    const ServiceInfo& service, const std::vector<std::string>& addresses,
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
  WorkerOptions options;
  options.call_timeout = remote.call_timeout;
  options.on_state_change = remote.on_state_change;
  options.middleware = remote.middleware;
  options.respawn = RespawnPolicy::kNever;  // nothing to respawn
  PoolOptions pool;
  pool.min_workers = pool.max_workers = static_cast<int>(addresses.size());
  pool.max_calls_per_worker = remote.max_calls_per_worker;
  pool.max_queued_calls = remote.max_queued_calls;
  pool.idle_timeout = absl::InfiniteDuration();
  auto next = std::make_shared<std::atomic<size_t>>(0);
  WorkerPool::Factory factory =
      [&service, addresses, remote, next]() -> absl::StatusOr<std::unique_ptr<WorkerEndpoint>> {
    const std::string& address = addresses[next->fetch_add(1) % addresses.size()];
    absl::StatusOr<std::unique_ptr<RemoteEndpoint>> endpoint =
        RemoteEndpoint::Connect(service, address, remote);
    if (!endpoint.ok()) return endpoint.status();
    return std::unique_ptr<WorkerEndpoint>(std::move(*endpoint));
  };
  absl::StatusOr<std::unique_ptr<WorkerPool>> started =
      WorkerPool::Start(service, std::move(options), std::move(method_overrides), pool,
                        std::move(factory));
  if (!started.ok()) return started.status();
  return std::unique_ptr<Connection>(std::move(*started));
}

}  // namespace iw::internal
