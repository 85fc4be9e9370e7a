// Handlers the fuzz targets run: every method of the test services, made
// safe to run millions of times (no crash, sleep or unbounded allocation).
#ifndef IW_FUZZ_SAFE_HANDLERS_H_
#define IW_FUZZ_SAFE_HANDLERS_H_

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <string>

#include "tests/hardening/limits_service.iw.h"
#include "tests/workers/test_service.iw.h"

namespace iw::fuzz {

// Every TestService method, made safe to run millions of times.
class SafeTestHandler final : public iwtest::TestServiceHandler {
 public:
  absl::StatusOr<iwtest::EchoReply> Echo(iw::CallContext&,
                                         const iwtest::EchoRequest& request) override {
    iwtest::EchoReply reply;
    reply.set_text(request.text());
    reply.set_payload(request.payload());
    return reply;
  }
  absl::StatusOr<iwtest::EchoReply> EchoInline(iw::CallContext& context,
                                               const iwtest::EchoRequest& request) override {
    return Echo(context, request);
  }
  absl::StatusOr<iwtest::SleepReply> Sleep(iw::CallContext& context,
                                           const iwtest::SleepRequest& request) override {
    iwtest::SleepReply reply;
    reply.set_tag(request.tag());
    reply.set_saw_cancelled(context.IsCancelled());
    return reply;
  }
  absl::StatusOr<iwtest::CrashReply> Crash(iw::CallContext&, const iwtest::CrashRequest&) override {
    return absl::UnavailableError("not crashing under the fuzzer");
  }
  absl::StatusOr<iwtest::FailReply> Fail(iw::CallContext&,
                                         const iwtest::FailRequest& request) override {
    if (request.throw_exception()) throw std::runtime_error(request.message());
    if (request.code() == 0) return iwtest::FailReply();
    // Any other int, valid code or not, must map to a sane status.
    return absl::Status(static_cast<absl::StatusCode>(request.code()), request.message());
  }
  absl::StatusOr<iwtest::GetEnvReply> GetEnv(iw::CallContext&,
                                             const iwtest::GetEnvRequest& request) override {
    iwtest::GetEnvReply reply;
    reply.set_set(request.name().empty());
    return reply;
  }
  absl::StatusOr<iwtest::SpinReply> Spin(iw::CallContext&, const iwtest::SpinRequest&) override {
    return iwtest::SpinReply();
  }
  absl::StatusOr<iwtest::AllocateReply> Allocate(iw::CallContext&,
                                                 const iwtest::AllocateRequest& request) override {
    iwtest::AllocateReply reply;
    reply.set_allocated(request.bytes() >= 0 && request.bytes() < (1 << 16));
    return reply;
  }
  absl::StatusOr<iwtest::OpenFilesReply> OpenFiles(
      iw::CallContext&, const iwtest::OpenFilesRequest& request) override {
    iwtest::OpenFilesReply reply;
    reply.set_opened(request.count() < 0 ? 0 : request.count() % 8);
    return reply;
  }
  // The streaming methods, bounded: a few replies, no pause, crash or
  // payload.
  absl::Status Count(iw::CallContext&, const iwtest::CountRequest& request,
                     iw::StreamWriter<iwtest::CountReply>& writer) override {
    for (int i = 0; i < request.count() % 4; ++i) {
      iwtest::CountReply reply;
      reply.set_text(request.text());
      reply.set_index(i);
      if (!writer.Write(reply)) return absl::CancelledError("stopped");
    }
    if (request.fail_after() > 0) {
      return absl::Status(static_cast<absl::StatusCode>(request.fail_code()), "failed");
    }
    return absl::OkStatus();
  }
  absl::StatusOr<iwtest::SumReply> Sum(iw::CallContext&,
                                       iw::StreamReader<iwtest::Chunk>& reader) override {
    iwtest::SumReply reply;
    for (iwtest::Chunk chunk; reader.Read(&chunk); chunk.Clear()) {
      if (chunk.fail()) return absl::InvalidArgumentError("bad chunk");
      reply.set_chunks(reply.chunks() + 1);
      reply.set_bytes(reply.bytes() + static_cast<int64_t>(chunk.data().size()));
    }
    return reply;
  }
  absl::Status Chat(iw::CallContext&, iw::StreamReader<iwtest::ChatLine>& reader,
                    iw::StreamWriter<iwtest::ChatLine>& writer) override {
    for (iwtest::ChatLine line; reader.Read(&line); line.Clear()) {
      if (!writer.Write(line)) return absl::CancelledError("stopped");
    }
    return absl::OkStatus();
  }
};

class SafeLimitsHandler final : public iwtest::LimitsServiceHandler {
 public:
  absl::StatusOr<iwtest::SizedReply> Sized(iw::CallContext&,
                                           const iwtest::SizedRequest& request) override {
    iwtest::SizedReply reply;
    // Up to 4 KiB: crosses the 2048-byte max_response_bytes of the service.
    reply.set_payload(std::string(static_cast<size_t>(request.reply_bytes()) % 4096, 'r'));
    return reply;
  }
};

// Aborts (a finding) if `condition` is false.
inline void Check(bool condition, const char* what) {
  if (!condition) {
    std::fprintf(stderr, "fuzz target: invariant violated: %s\n", what);
    std::abort();
  }
}

}  // namespace iw::fuzz

#endif  // IW_FUZZ_SAFE_HANDLERS_H_
