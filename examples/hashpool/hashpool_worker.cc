// The worker process of the hashpool example: implements the generated
// hashpool::v1::HasherHandler on top of AnalyzeFile().
#include <unistd.h>

#include "examples/hashpool/analyze.h"
#include "examples/hashpool/hashpool.iw.h"

namespace {

class Hasher final : public hashpool::v1::HasherHandler {
 public:
  absl::StatusOr<hashpool::v1::AnalyzeReply> Analyze(
      iw::CallContext& context, const hashpool::v1::AnalyzeRequest& request) override {
    // Stop reading early if the host gave up on this call (deadline passed or
    // cancelled): nobody would use the result.
    absl::StatusOr<hashpool::Analysis> analysis =
        hashpool::AnalyzeFile(request.path(), [&context] { return context.IsCancelled(); });
    if (!analysis.ok()) return analysis.status();  // travels to the host unchanged
    hashpool::v1::AnalyzeReply reply;
    reply.set_sha256(analysis->sha256);
    reply.set_size(analysis->size);
    reply.set_compressed_size(analysis->compressed_size);
    reply.set_worker_pid(::getpid());
    return reply;
  }
};

}  // namespace

int main(int argc, char** argv) {
  Hasher handler;
  return hashpool::v1::RunHasherWorker(argc, argv, handler);
}
