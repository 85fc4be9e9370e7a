#include "runtime/host/grpc_stream.h"

#include "absl/strings/str_cat.h"
#include "runtime/wire/call_failure.h"

namespace iw::internal {

// TODO(grpc helper): the gRPC carrier of streams. Until it lands, a stream
// over gRPC ends at once with UNIMPLEMENTED.
std::shared_ptr<HostStream::Carrier> OpenGrpcStream(const std::shared_ptr<grpc::Channel>& channel,
                                                    absl::string_view path,
                                                    const CallTiming& timing,
                                                    const std::shared_ptr<HostStream>& stream) {
  (void)channel;
  (void)timing;
  stream->EndFromWorker(
      absl::UnimplementedError(absl::StrCat(path, ": streams over gRPC are not carried yet")), {});
  return nullptr;
}

}  // namespace iw::internal
