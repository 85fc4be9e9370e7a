// The worker process of the streaming example: implements the generated
// streaming::v1::StudioHandler, one method of each streaming kind.
#include <unistd.h>

#include <atomic>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "examples/streaming/checksum.h"
#include "examples/streaming/streaming.iw.h"

namespace {

// Iterations until the point c = x + iy leaves the disc of radius 2, at most
// `max_iterations` (then it counts as inside the Mandelbrot set).
int Escape(double x, double y, int max_iterations) {
  double zx = 0, zy = 0;
  int i = 0;
  while (i < max_iterations && zx * zx + zy * zy <= 4) {
    const double t = zx * zx - zy * zy + x;
    zy = 2 * zx * zy + y;
    zx = t;
    ++i;
  }
  return i;
}

// "pig" -> "igpay", "apple" -> "appleway"; only letters move.
std::string PigLatin(absl::string_view word) {
  static constexpr absl::string_view kVowels = "aeiouAEIOU";
  if (word.empty()) return "";
  if (kVowels.find(word[0]) != absl::string_view::npos) return absl::StrCat(word, "way");
  size_t first_vowel = word.find_first_of(kVowels);
  if (first_vowel == absl::string_view::npos) return absl::StrCat(word, "ay");
  return absl::StrCat(word.substr(first_vowel), word.substr(0, first_vowel), "ay");
}

class Studio final : public streaming::v1::StudioHandler {
 public:
  // Server streaming: one message per row. When the host stops reading
  // (it cancelled, its deadline passed, it went away), Write() returns
  // false: stop there, nobody will see the rest.
  absl::Status Render(iw::CallContext& context, const streaming::v1::RenderJob& job,
                      iw::StreamWriter<streaming::v1::RenderProgress>& writer) override {
    if (job.width() <= 0 || job.height() <= 0 || job.max_iterations() <= 0) {
      return absl::InvalidArgumentError("width, height and max_iterations must be positive");
    }
    // Only small pictures travel back as text.
    const bool keep_picture = job.width() <= 200 && job.height() <= 100;
    std::vector<std::string> rows;
    int64_t inside = 0;
    for (int row = 0; row < job.height(); ++row) {
      std::string line;
      const double y = -1.2 + 2.4 * (row + 0.5) / job.height();
      for (int column = 0; column < job.width(); ++column) {
        const double x = -2.1 + 2.8 * (column + 0.5) / job.width();
        const int escape = Escape(x, y, job.max_iterations());
        if (escape == job.max_iterations()) ++inside;
        if (keep_picture) {
          line += escape == job.max_iterations() ? '#' : escape > 8 ? '+' : escape > 4 ? '.' : ' ';
        }
      }
      if (keep_picture) rows.push_back(std::move(line));
      streaming::v1::RenderProgress progress;
      progress.set_rows_done(row + 1);
      progress.set_percent(100 * (row + 1) / job.height());
      if (row + 1 == job.height()) {
        progress.set_picture(absl::StrJoin(rows, "\n"));
        progress.set_points_inside(inside);
      }
      if (!writer.Write(progress)) {
        stopped_.fetch_add(1);
        last_stopped_after_rows_.store(row);
        // The status goes nowhere; return at once.
        return absl::CancelledError("the host stopped reading");
      }
    }
    (void)context;
    return absl::OkStatus();
  }

  // Client streaming: the chunks arrive one by one (at most kStreamWindow
  // unread at a time, so a fast host waits for a slow handler); Read()
  // returns false once the host has sent them all.
  absl::StatusOr<streaming::v1::UploadSummary> Upload(
      iw::CallContext& context, iw::StreamReader<streaming::v1::Chunk>& reader) override {
    streaming::v1::UploadSummary summary;
    uint64_t hash = streaming::kFnv1aStart;
    streaming::v1::Chunk chunk;
    while (reader.Read(&chunk)) {
      hash = streaming::Fnv1a(hash, chunk.data());
      summary.set_chunks(summary.chunks() + 1);
      summary.set_bytes(summary.bytes() + static_cast<int64_t>(chunk.data().size()));
    }
    // Read() also returns false when the stream ended early.
    if (context.IsCancelled()) return absl::CancelledError("upload abandoned by the host");
    summary.set_fnv1a(hash);
    return summary;
  }

  // Bidirectional: each answer goes out before the next line is read; after
  // the host's half-close, one last line of totals.
  absl::Status Translate(iw::CallContext& context, iw::StreamReader<streaming::v1::Line>& reader,
                         iw::StreamWriter<streaming::v1::Line>& writer) override {
    int lines = 0, words = 0;
    streaming::v1::Line line;
    while (reader.Read(&line)) {
      std::vector<std::string> translated;
      for (absl::string_view word : absl::StrSplit(line.text(), ' ', absl::SkipEmpty())) {
        translated.push_back(PigLatin(word));
      }
      ++lines;
      words += static_cast<int>(translated.size());
      streaming::v1::Line answer;
      answer.set_text(absl::StrJoin(translated, " "));
      if (!writer.Write(answer)) return absl::CancelledError("the host stopped reading");
    }
    if (context.IsCancelled()) return absl::CancelledError("the host went away");
    streaming::v1::Line totals;
    totals.set_text(absl::StrCat("(", lines, " lines, ", words, " words)"));
    writer.Write(totals);
    return absl::OkStatus();
  }

  absl::StatusOr<streaming::v1::StatsReply> Stats(iw::CallContext&,
                                                  const streaming::v1::StatsRequest&) override {
    streaming::v1::StatsReply reply;
    reply.set_renders_stopped(stopped_.load());
    reply.set_last_stopped_after_rows(last_stopped_after_rows_.load());
    return reply;
  }

 private:
  std::atomic<int> stopped_{0};
  std::atomic<int> last_stopped_after_rows_{0};
};

}  // namespace

int main(int argc, char** argv) {
  Studio handler;
  return streaming::v1::RunStudioWorker(argc, argv, handler);
}
