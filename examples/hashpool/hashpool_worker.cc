// The worker process of the hashpool example: implements the generated
// hashpool::v1::HasherHandler on top of AnalyzeFile().
#include <unistd.h>

#include "examples/hashpool/analyze.h"
#include "examples/hashpool/hashpool.iw.h"

namespace {

hashpool::v1::AnalyzeReply Reply(const hashpool::Analysis& analysis) {
  hashpool::v1::AnalyzeReply reply;
  reply.set_sha256(analysis.sha256);
  reply.set_size(analysis.size);
  reply.set_compressed_size(analysis.compressed_size);
  reply.set_worker_pid(::getpid());
  return reply;
}

class Hasher final : public hashpool::v1::HasherHandler {
 public:
  absl::StatusOr<hashpool::v1::AnalyzeReply> Analyze(
      iw::CallContext& context, const hashpool::v1::AnalyzeRequest& request) override {
    // Stop reading early if the host gave up on this call (deadline passed or
    // cancelled): nobody would use the result.
    absl::StatusOr<hashpool::Analysis> analysis =
        hashpool::AnalyzeFile(request.path(), [&context] { return context.IsCancelled(); });
    if (!analysis.ok()) return analysis.status();  // travels to the host unchanged
    return Reply(*analysis);
  }

  absl::Status AnalyzeWithProgress(
      iw::CallContext& context, const hashpool::v1::AnalyzeRequest& request,
      iw::StreamWriter<hashpool::v1::AnalyzeProgress>& writer) override {
    hashpool::v1::AnalyzeProgress message;
    message.set_worker_pid(::getpid());
    // Tell the host at once which worker took the file.
    message.set_bytes_done(0);
    if (!writer.Write(message)) return absl::CancelledError("the host stopped reading");
    // A Write() that returns false means nobody reads any more (the host
    // cancelled, the deadline passed): stop at the next chunk.
    bool stopped = false;
    absl::StatusOr<hashpool::Analysis> analysis = hashpool::AnalyzeFile(
        request.path(), [&] { return stopped || context.IsCancelled(); },
        [&](int64_t bytes_done) {
          message.set_bytes_done(bytes_done);
          if (!writer.Write(message)) stopped = true;
        });
    if (!analysis.ok()) return analysis.status();
    *message.mutable_result() = Reply(*analysis);
    writer.Write(message);
    return absl::OkStatus();
  }
};

}  // namespace

int main(int argc, char** argv) {
  Hasher handler;
  return hashpool::v1::RunHasherWorker(argc, argv, handler);
}
