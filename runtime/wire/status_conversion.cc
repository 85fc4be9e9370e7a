#include "runtime/wire/status_conversion.h"

#include <string>

#include "absl/strings/str_cat.h"

#include "absl/strings/cord.h"
#include "isolated_workers/internal/rpc_status.pb.h"
#include "runtime/status_details.h"

namespace iw::internal {
namespace {

const std::string kWorkerCrashTypeUrl = DetailsTypeUrl("iw.WorkerCrash");

}  // namespace

// Structured details (absl payloads keyed by type URL) travel as
// grpc::Status::error_details(): a serialized google.rpc.Status (our
// wire-compatible RpcStatus) whose `details` are Any{type_url, value}.

absl::Status FromGrpcStatus(const grpc::Status& status) {
  if (status.ok()) return absl::OkStatus();
  return FromStatusFields(static_cast<int>(status.error_code()), status.error_message(),
                          status.error_details());
}

absl::Status FromStatusFields(int code, absl::string_view message,
                              const std::string& serialized_details) {
  if (code == 0) return absl::OkStatus();
  absl::Status result(static_cast<absl::StatusCode>(code), message);
  if (!serialized_details.empty()) {
    RpcStatus details;
    if (details.ParseFromString(serialized_details)) {
      for (const google::protobuf::Any& any : details.details()) {
        // Only the host reports crashes: a worker cannot make its own
        // status look like one.
        if (any.type_url() == kWorkerCrashTypeUrl) continue;
        result.SetPayload(any.type_url(), absl::Cord(any.value()));
      }
    }
  }
  return result;
}

std::string StatusDetails(const absl::Status& status) {
  if (status.ok()) return "";
  RpcStatus details;
  status.ForEachPayload([&details](absl::string_view type_url, const absl::Cord& payload) {
    google::protobuf::Any* any = details.add_details();
    any->set_type_url(std::string(type_url));
    any->set_value(std::string(payload));
  });
  if (details.details_size() == 0) return "";
  details.set_code(static_cast<int>(status.code()));
  details.set_message(std::string(status.message()));
  return details.SerializeAsString();
}

grpc::Status ToGrpcStatus(const absl::Status& status) {
  if (status.ok()) return grpc::Status::OK;
  return grpc::Status(static_cast<grpc::StatusCode>(status.code()), std::string(status.message()),
                      StatusDetails(status));
}

}  // namespace iw::internal
