// The host of the streaming example: spawns the Studio worker and uses each
// kind of streaming method (docs/streaming.md), then cancels a stream and
// lets a deadline end another, printing what happened.
//
//   tools/bazel run //examples/streaming:studio_host            # native carrier
//   tools/bazel run //examples/streaming:studio_host -- --grpc  # gRPC on the socketpair
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "examples/streaming/checksum.h"
#include "examples/streaming/streaming.iw.h"
#include "runtime/paths.h"

namespace {

using streaming::v1::RenderJob;
using streaming::v1::RenderProgress;

RenderJob Job(int width, int height, int max_iterations) {
  RenderJob job;
  job.set_width(width);
  job.set_height(height);
  job.set_max_iterations(max_iterations);
  return job;
}

// A job that takes seconds: a few milliseconds per row, 2000 rows.
RenderJob BigJob() { return Job(3000, 2000, 2000); }

}  // namespace

int main(int argc, char** argv) {
  iw::WorkerOptions options;
  options.executable = iw::SiblingExecutable("studio_worker");
  // Streams behave the same on either carrier; the test runs both.
  const bool grpc = argc > 1 && absl::string_view(argv[1]) == "--grpc";
  if (grpc) options.transport = iw::WorkerTransport::kGrpc;
  absl::StatusOr<std::unique_ptr<streaming::v1::StudioHost>> spawned =
      streaming::v1::StudioHost::Spawn(options);
  if (!spawned.ok()) {
    std::fprintf(stderr, "spawn failed: %s\n", spawned.status().ToString().c_str());
    return 1;
  }
  streaming::v1::StudioHost& host = **spawned;
  std::printf("spawned worker %s, %s\n", host.worker_id().c_str(),
              host.stats().workers_native == 1 ? "native carrier" : "gRPC carrier");
  bool ok = true;

  // 1. Server streaming, blocking: a range-for over the responses as they
  // arrive, then Finish() for the final status.
  {
    iw::ResponseStream<RenderProgress> render = host.Render(Job(60, 20, 200));
    int messages = 0, first_percent = -1, last_percent = -1;
    RenderProgress last;
    for (const RenderProgress& progress : render) {
      ++messages;
      if (first_percent < 0) first_percent = progress.percent();
      last_percent = progress.percent();
      last = progress;
    }
    absl::Status status = render.Finish();
    std::printf("render 60x20 (range-for): %d progress messages, %d%% .. %d%%\n", messages,
                first_percent, last_percent);
    if (!last.picture().empty()) {
      std::printf("  |%s|\n", absl::StrReplaceAll(last.picture(), {{"\n", "|\n  |"}}).c_str());
    }
    std::printf("render: %s, %lld of 1200 points inside the set\n", status.ToString().c_str(),
                static_cast<long long>(last.points_inside()));
    ok = ok && status.ok();
  }

  // 2. Server streaming, async: on_message runs for each response, in order,
  // on a framework thread (one per stream); then done, once.
  {
    absl::Mutex mu;
    int messages = 0, last_percent = -1;
    absl::Status final_status = absl::UnknownError("not done");
    absl::Notification done;
    host.RenderAsync(
        Job(60, 20, 200),
        [&](RenderProgress progress) {
          absl::MutexLock lock(&mu);
          ++messages;
          last_percent = progress.percent();
        },
        [&](absl::Status status) {
          {
            absl::MutexLock lock(&mu);
            final_status = status;
          }
          done.Notify();
        });
    const bool finished = done.WaitForNotificationWithTimeout(absl::Seconds(30));
    absl::MutexLock lock(&mu);
    std::printf(
        "render 60x20 (async): %d progress messages on a framework thread, up to %d%%, "
        "then done: %s\n",
        messages, last_percent,
        finished ? final_status.ToString().c_str() : "(no final status in 30 s)");
    ok = ok && finished && final_status.ok();
  }

  // 3. Client streaming: 16 chunks of 64 KiB, then Finish() closes the
  // requests and returns the one response.
  {
    constexpr int kChunks = 16;
    constexpr size_t kChunkBytes = 64 << 10;
    std::mt19937_64 rng(7);
    iw::RequestStream<streaming::v1::Chunk, streaming::v1::UploadSummary> upload = host.Upload();
    uint64_t expected = streaming::kFnv1aStart;
    int sent = 0;
    for (int i = 0; i < kChunks; ++i) {
      streaming::v1::Chunk chunk;
      std::string data(kChunkBytes, '\0');
      for (char& c : data) c = static_cast<char>(rng());
      expected = streaming::Fnv1a(expected, data);
      chunk.set_data(std::move(data));
      // False once the stream has ended (Finish() says why).
      if (!upload.Write(chunk)) break;
      ++sent;
    }
    absl::StatusOr<streaming::v1::UploadSummary> summary = upload.Finish();
    if (summary.ok()) {
      std::printf(
          "upload: %d chunks of 64 KiB sent; the worker got %lld chunks, %lld bytes, "
          "fnv1a %016llx: %s\n",
          sent, static_cast<long long>(summary->chunks()), static_cast<long long>(summary->bytes()),
          static_cast<unsigned long long>(summary->fnv1a()),
          summary->fnv1a() == expected ? "matches the host's" : "DIFFERS from the host's");
    } else {
      std::printf("upload: %s\n", summary.status().ToString().c_str());
    }
    ok = ok && summary.ok() && summary->fnv1a() == expected;
  }

  // 4. Bidirectional: a conversation, each answer read before the next line
  // is written; then CloseWrites(), and the worker's last word.
  {
    iw::BidiStream<streaming::v1::Line, streaming::v1::Line> translate = host.Translate();
    for (const char* text : {"the quick brown fox", "jumps over", "isolated workers stream"}) {
      streaming::v1::Line line, answer;
      line.set_text(text);
      if (!translate.Write(line) || !translate.Next(&answer)) break;
      std::printf("translate: \"%s\" -> \"%s\"\n", text, answer.text().c_str());
    }
    translate.CloseWrites();
    for (const streaming::v1::Line& rest : translate) {
      std::printf("translate: after the host's half-close: \"%s\"\n", rest.text().c_str());
    }
    absl::Status status = translate.Finish();
    std::printf("translate: %s\n", status.ToString().c_str());
    ok = ok && status.ok();
  }

  // 5. Cancellation: read a few rows of a long render, then Cancel(). The
  // handler's Write() returns false at once and it stops working.
  {
    iw::ResponseStream<RenderProgress> render = host.Render(BigJob());
    RenderProgress progress;
    int read = 0;
    while (read < 3 && render.Next(&progress)) ++read;
    render.Cancel();
    absl::Status status = render.Finish();
    std::printf("cancel: read %d of 2000 rows, then Cancel() -> %s\n", read,
                status.ToString().c_str());
    // The worker serves on; ask it what its handler saw.
    absl::StatusOr<streaming::v1::StatsReply> stats = absl::UnknownError("not asked");
    for (absl::Time end = absl::Now() + absl::Seconds(10); absl::Now() < end;
         absl::SleepFor(absl::Milliseconds(10))) {
      stats = host.Stats(streaming::v1::StatsRequest());
      if (!stats.ok() || stats->renders_stopped() >= 1) break;
    }
    if (stats.ok() && stats->renders_stopped() == 1) {
      std::printf("cancel: the handler's Write() returned false after %d rows; it stopped\n",
                  stats->last_stopped_after_rows());
    } else {
      std::printf("cancel: the handler did not stop: %s\n", stats.status().ToString().c_str());
      ok = false;
    }
    ok = ok && absl::IsCancelled(status);
  }

  // 6. A deadline bounds the whole stream, not each message: rows keep
  // coming every few milliseconds, and the stream still ends at 300 ms.
  {
    iw::CallOptions options;
    options.timeout = absl::Milliseconds(300);
    const absl::Time start = absl::Now();
    iw::ResponseStream<RenderProgress> render = host.Render(BigJob(), options);
    int read = 0;
    for (const RenderProgress& progress : render) {
      (void)progress;
      ++read;
    }
    absl::Status status = render.Finish();
    std::printf("deadline: %d of 2000 rows read, then after %.1f s: %s\n", read,
                absl::ToDoubleSeconds(absl::Now() - start), status.ToString().c_str());
    ok = ok && absl::IsDeadlineExceeded(status);
  }

  // 7. Close: the worker drains and exits; nothing is left behind.
  absl::Status closed = host.Close();
  std::printf("closed worker: %s (state %s)\n", closed.ToString().c_str(),
              iw::WorkerStateName(host.state()));
  return ok && closed.ok() ? 0 : 1;
}
