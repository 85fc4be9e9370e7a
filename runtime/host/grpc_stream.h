// -----------------------------------------------------------------------------
// File: host/grpc_stream.h
// -----------------------------------------------------------------------------
//
// FOR INTERNAL USE. A stream (stream.h) carried as an ordinary gRPC
// streaming call on a channel (/pkg.Service/Method): how a host reaches the
// streaming methods of a worker over gRPC (WorkerTransport::kGrpc, remote
// and in-process workers). Flow control is gRPC's own (HTTP/2 windows, one
// outstanding read and write), paced by HostStream's credit.

#ifndef IW_RUNTIME_HOST_GRPC_STREAM_H_
#define IW_RUNTIME_HOST_GRPC_STREAM_H_

#include <grpcpp/channel.h>

#include <memory>

#include "absl/strings/string_view.h"
#include "runtime/host/endpoint.h"
#include "runtime/host/host_stream.h"

namespace iw::internal {

// Starts the gRPC call `path` on `channel` with the deadline, request id,
// per-call policy and metadata of `timing`, and returns the carrier
// `stream` sends through; what the worker sends is pushed into `stream`
// (held weakly). The call's final status reaches the stream as the worker's
// (kWorkerStatusMetadata in its trailers) or as kTransportFailed.
std::shared_ptr<HostStream::Carrier> OpenGrpcStream(const std::shared_ptr<grpc::Channel>& channel,
                                                    absl::string_view path,
                                                    const CallTiming& timing,
                                                    const std::shared_ptr<HostStream>& stream);

}  // namespace iw::internal

#endif  // IW_RUNTIME_HOST_GRPC_STREAM_H_
