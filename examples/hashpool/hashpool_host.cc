// The host of the hashpool example: SHA-256 and zlib ratio of every file of a
// directory tree, computed by a pool of worker processes (one per CPU), then
// the same work inline in this process, for comparison. Each file is a
// server stream (AnalyzeWithProgress): the worker reports its progress as it
// goes, and on a terminal the host draws it live, per worker process.
//
//   tools/bazel run //examples/hashpool:hashpool                 # sample tree
//   tools/bazel run //examples/hashpool:hashpool -- /usr/share   # your files
//
// Flags (for the generated sample tree): --files=200 --min-size=64k
// --max-size=4m --seed=1; --workers=N (default: number of CPUs).
//
// Exit status: 0 if everything went as expected (with the sample tree: every
// file but poison.bin analysed, identical results in the pool and inline),
// 1 otherwise.
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "examples/hashpool/analyze.h"
#include "examples/hashpool/hashpool.iw.h"
#include "runtime/logging.h"
#include "runtime/paths.h"
#include "runtime/worker_crash.h"

namespace fs = std::filesystem;

namespace {

struct Flags {
  std::string dir;  // empty: generate a sample tree
  int files = 200;
  int64_t min_size = 64 << 10;
  int64_t max_size = 4 << 20;
  int workers = 0;  // 0: number of CPUs
  uint32_t seed = 1;
};

// "256k", "4m", "1000".
bool ParseSize(absl::string_view text, int64_t* bytes) {
  int64_t unit = 1;
  if (absl::ConsumeSuffix(&text, "k") || absl::ConsumeSuffix(&text, "K")) {
    unit = 1 << 10;
  } else if (absl::ConsumeSuffix(&text, "m") || absl::ConsumeSuffix(&text, "M")) {
    unit = 1 << 20;
  }
  int64_t n;
  if (!absl::SimpleAtoi(text, &n) || n < 0) return false;
  *bytes = n * unit;
  return true;
}

bool ParseFlags(int argc, char** argv, Flags* flags) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    bool ok = true;
    if (absl::ConsumePrefix(&arg, "--files=")) {
      ok = absl::SimpleAtoi(arg, &flags->files) && flags->files >= 1;
    } else if (absl::ConsumePrefix(&arg, "--min-size=")) {
      ok = ParseSize(arg, &flags->min_size);
    } else if (absl::ConsumePrefix(&arg, "--max-size=")) {
      ok = ParseSize(arg, &flags->max_size);
    } else if (absl::ConsumePrefix(&arg, "--workers=")) {
      ok = absl::SimpleAtoi(arg, &flags->workers) && flags->workers >= 1;
    } else if (absl::ConsumePrefix(&arg, "--seed=")) {
      ok = absl::SimpleAtoi(arg, &flags->seed);
    } else if (!absl::StartsWith(arg, "-") && flags->dir.empty()) {
      flags->dir = std::string(arg);
    } else {
      ok = false;
    }
    if (!ok) {
      std::fprintf(stderr,
                   "usage: hashpool [DIR] [--workers=N]\n"
                   "       hashpool [--files=200] [--min-size=64k] [--max-size=4m] "
                   "[--seed=1] [--workers=N]\n"
                   "bad argument: %s\n",
                   argv[i]);
      return false;
    }
  }
  if (flags->min_size > flags->max_size) flags->min_size = flags->max_size;
  return true;
}

double MiB(int64_t bytes) { return bytes / 1048576.0; }

// Pseudo-random, compressible text: words of a made-up language (2,000
// words, a few of them frequent, most rare), like real prose or logs.
class TextGenerator {
 public:
  explicit TextGenerator(uint32_t seed) : rng_(seed) {
    std::uniform_int_distribution<int> length(2, 10), letter('a', 'z');
    std::vector<double> weights;
    for (int i = 0; i < 2000; ++i) {
      std::string word;
      for (int n = length(rng_); n > 0; --n) word += static_cast<char>(letter(rng_));
      words_.push_back(word + (i % 17 == 0 ? ".\n" : " "));
      weights.push_back(1.0 / (i + 1));  // Zipf
    }
    pick_ = std::discrete_distribution<int>(weights.begin(), weights.end());
  }

  // `size` bytes: random slices of a 1 MiB corpus of such words (built
  // once; slicing is much faster than picking every word).
  std::string Text(int64_t size) {
    if (corpus_.empty()) {
      while (corpus_.size() < (1 << 20)) corpus_ += words_[pick_(rng_)];
    }
    std::uniform_int_distribution<size_t> slice(1 << 10, 8 << 10);
    std::string text;
    text.reserve(size);
    while (static_cast<int64_t>(text.size()) < size) {
      size_t length = std::min<size_t>(slice(rng_), size - text.size());
      std::uniform_int_distribution<size_t> offset(0, corpus_.size() - length);
      text.append(corpus_, offset(rng_), length);
    }
    return text;
  }

  // Log-uniform: many small files, a few big ones.
  int64_t Size(int64_t min, int64_t max) {
    std::uniform_real_distribution<double> log_size(std::log(static_cast<double>(min)),
                                                    std::log(static_cast<double>(max)));
    return static_cast<int64_t>(std::exp(log_size(rng_)));
  }

 private:
  std::mt19937 rng_;
  std::vector<std::string> words_;
  std::discrete_distribution<int> pick_;
  std::string corpus_;
};

bool WriteFile(const fs::path& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
  return static_cast<bool>(out);
}

// Creates `files` files (one of them the poison file) under a fresh temp
// directory; returns the directory, or nothing on error.
std::optional<fs::path> GenerateSampleTree(const Flags& flags, fs::path* poison, int64_t* total) {
  const char* tmp = std::getenv("TMPDIR");
  std::string templ = absl::StrCat(tmp && *tmp ? tmp : "/tmp", "/hashpool-XXXXXX");
  if (::mkdtemp(templ.data()) == nullptr) {
    std::perror("mkdtemp");
    return std::nullopt;
  }
  fs::path root = templ;
  TextGenerator generator(flags.seed);
  const char* const kSubdirs[] = {"docs", "logs", "src", "vendor"};
  for (const char* sub : kSubdirs) fs::create_directories(root / sub);
  *total = 0;
  for (int i = 1; i < flags.files; ++i) {
    int64_t size =
        generator.Size(std::max<int64_t>(flags.min_size, 1), std::max<int64_t>(flags.max_size, 1));
    fs::path path = root / kSubdirs[i % 4] / absl::StrFormat("file-%04d.txt", i);
    if (!WriteFile(path, generator.Text(size))) return std::nullopt;
    *total += size;
  }
  // The poison file: a header our simulated native decoder crashes on. Its
  // name sorts in the middle of the tree, so work goes on after the crash.
  *poison = root / "poison.bin";
  std::string data = absl::StrCat(hashpool::kPoisonMagic, generator.Text(4096));
  if (!WriteFile(*poison, data)) return std::nullopt;
  *total += data.size();
  return root;
}

struct FileResult {
  fs::path path;
  int64_t size = 0;  // from stat(), for progress
  absl::StatusOr<hashpool::v1::AnalyzeReply> reply = absl::UnknownError("not run");
  // From the stream's messages, as they arrive.
  int worker_pid = 0;
  int64_t bytes_done = 0;
  std::optional<hashpool::v1::AnalyzeReply> result;
};

// What one worker process is doing, as its progress messages tell.
struct WorkerView {
  int file = -1;  // the index of the file it works on; -1: none
  int files_done = 0;
  int64_t bytes_done = 0;  // of the files done
  std::string crashed_on;  // the file it died on, if it did
};

// The live display on a terminal: a few lines redrawn in place, with log
// lines printed above them. Thread-safe.
class LiveDisplay {
 public:
  // Replaces the previous drawing with `lines`.
  void Draw(const std::vector<std::string>& lines) {
    absl::MutexLock lock(&mu_);
    EraseLocked();
    for (const std::string& line : lines) std::fprintf(stderr, "%s\n", line.c_str());
    drawn_ = static_cast<int>(lines.size());
    std::fflush(stderr);
  }

  // Prints `text` where the drawing was; the next Draw() draws below it.
  void Log(const std::string& text) {
    absl::MutexLock lock(&mu_);
    EraseLocked();
    std::fprintf(stderr, "%s\n", text.c_str());
    std::fflush(stderr);
  }

 private:
  void EraseLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    // Up to the first line of the drawing, then clear to the end of the
    // screen.
    if (drawn_ > 0) std::fprintf(stderr, "\033[%dF\033[J", drawn_);
    drawn_ = 0;
  }

  absl::Mutex mu_;
  int drawn_ ABSL_GUARDED_BY(mu_) = 0;
};

// The lines of the live display: the whole run, then one line per worker
// process with the file it works on.
std::vector<std::string> DisplayLines(const std::vector<FileResult>& files,
                                      const std::map<int, WorkerView>& workers,
                                      const fs::path& root, int done, int failed, int64_t bytes,
                                      int64_t total_bytes) {
  constexpr int kWidth = 30;
  const int total = static_cast<int>(files.size());
  const int percent = total_bytes > 0 ? static_cast<int>(100 * bytes / total_bytes) : 100;
  const int filled = kWidth * percent / 100;
  std::vector<std::string> lines;
  lines.push_back(absl::StrFormat("  [%s%s] %3d%%  %d/%d files  %.1f/%.1f MiB  %d failed",
                                  std::string(filled, '#'), std::string(kWidth - filled, '.'),
                                  percent, done, total, MiB(bytes), MiB(total_bytes), failed));
  for (const auto& [pid, worker] : workers) {
    std::string state;
    if (!worker.crashed_on.empty()) {
      state = absl::StrCat("crashed on ", fs::relative(worker.crashed_on, root).string());
    } else if (worker.file >= 0) {
      const FileResult& file = files[worker.file];
      state = absl::StrFormat(
          "%-28s %6.1f/%.1f MiB %3d%%", fs::relative(file.path, root).string(),
          MiB(file.bytes_done), MiB(file.size),
          file.size > 0 ? static_cast<int>(100 * file.bytes_done / file.size) : 100);
    } else {
      state = "idle";
    }
    lines.push_back(absl::StrFormat("    pid %-7d %3d done  %s", pid, worker.files_done, state));
  }
  return lines;
}

// Not a terminal (a log, a test): a progress line at each quarter of the
// files.
class QuarterLines {
 public:
  explicit QuarterLines(int total_files) : total_files_(total_files) {}

  void Update(int done) {
    while (next_quarter_ <= 4 && done * 4 >= next_quarter_ * total_files_) {
      std::fprintf(stderr, "progress: %d/%d files (%d%%)\n", done, total_files_,
                   25 * next_quarter_);
      ++next_quarter_;
    }
  }

 private:
  const int total_files_;
  int next_quarter_ = 1;
};

// Indents the continuation lines of a multi-line message (the stderr tail of
// a crash report).
std::string Indented(const absl::Status& status) {
  return absl::StrReplaceAll(status.ToString(absl::StatusToStringMode::kWithNoExtraData),
                             {{"\n", "\n  "}});
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, &flags)) return 2;
  const int cpus = std::max(1u, std::thread::hardware_concurrency());
  const int workers = flags.workers > 0 ? flags.workers : cpus;

  // 1. The files.
  fs::path root, poison;
  const bool generated = flags.dir.empty();
  if (generated) {
    absl::Time start = absl::Now();
    int64_t total = 0;
    std::optional<fs::path> made = GenerateSampleTree(flags, &poison, &total);
    if (!made) {
      std::fprintf(stderr, "could not generate the sample tree\n");
      return 1;
    }
    root = *made;
    std::printf("generated %d files (%.1f MiB) under %s in %.1f s, one of them poison.bin\n",
                flags.files, MiB(total), root.c_str(), absl::ToDoubleSeconds(absl::Now() - start));
  } else {
    root = fs::absolute(flags.dir);
  }
  // Delete the sample tree however we leave main().
  struct Cleanup {
    fs::path dir;
    ~Cleanup() {
      std::error_code ignored;
      if (!dir.empty()) fs::remove_all(dir, ignored);
    }
  } cleanup{generated ? root : fs::path()};

  std::vector<FileResult> files;
  int64_t total_bytes = 0;
  {
    std::error_code error;
    for (fs::recursive_directory_iterator
             it(root, fs::directory_options::skip_permission_denied, error),
         end;
         !error && it != end; it.increment(error)) {
      std::error_code ignored;
      if (!it->is_regular_file(ignored) || it->is_symlink(ignored)) continue;
      FileResult file;
      file.path = it->path();
      file.size = static_cast<int64_t>(it->file_size(ignored));
      total_bytes += file.size;
      files.push_back(std::move(file));
    }
    if (error) {
      std::fprintf(stderr, "cannot read %s: %s\n", root.c_str(), error.message().c_str());
      return 1;
    }
  }
  std::sort(files.begin(), files.end(),
            [](const FileResult& a, const FileResult& b) { return a.path < b.path; });
  if (files.empty()) {
    std::fprintf(stderr, "no files under %s\n", root.c_str());
    return 1;
  }

  // On a terminal, a live display: the whole run and one line per worker,
  // redrawn in place. The framework logs a worker crash (level error) to
  // stderr: print it above the display, which is redrawn on the next tick.
  const bool tty = ::isatty(STDERR_FILENO) == 1;
  LiveDisplay display;
  if (tty) {
    iw::SetLogSink([&display](const iw::LogRecord& record) {
      display.Log(absl::StrCat("[iw ", iw::LogLevelName(record.level), "] ", record.message));
    });
  }
  // The default sink again before `display` goes (after the pool, declared
  // below, is destroyed: it may still log).
  struct RestoreLogSink {
    ~RestoreLogSink() { iw::SetLogSink(nullptr); }
  } restore_log_sink;

  // 2. A pool of workers: one per CPU, one call at a time each.
  iw::WorkerOptions options;
  options.executable = iw::SiblingExecutable("hashpool_worker");
  // The workers' stderr is dropped (it would garble the progress bar); its
  // last lines are still kept for crash reports.
  options.stderr_mode = iw::OutputMode::kDiscard;
  iw::PoolOptions pool;
  pool.min_workers = workers;
  pool.max_workers = workers;
  pool.max_calls_per_worker = 1;
  absl::Time start = absl::Now();
  absl::StatusOr<std::unique_ptr<hashpool::v1::HasherHost>> spawned =
      hashpool::v1::HasherHost::SpawnPool(options, pool);
  if (!spawned.ok()) {
    std::fprintf(stderr, "could not start the pool: %s\n", spawned.status().ToString().c_str());
    return 1;
  }
  hashpool::v1::HasherHost& host = **spawned;
  std::printf("started a pool of %d worker processes in %.0f ms (%d CPUs)\n", workers,
              absl::ToDoubleMilliseconds(absl::Now() - start), cpus);

  // 3. Every file through the pool, each a server stream: the worker sends
  // a message when it starts on the file, one per chunk, then the result.
  // The callbacks run on framework threads (one per stream, never two at a
  // time for a stream); they only record what they got. A few streams more
  // than there are workers are kept open, so a worker never waits for this
  // loop, and the pool's queue stays short however many files there are.
  absl::Mutex mu;
  int issued = 0, done = 0, failed = 0;
  int64_t bytes_done = 0;  // of the files done, and so far of the others
  int64_t messages = 0;
  std::map<int, WorkerView> worker_views;  // by pid
  QuarterLines quarters(static_cast<int>(files.size()));
  const int window = 2 * workers;
  start = absl::Now();
  while (true) {
    absl::MutexLock lock(&mu);
    auto can_issue = [&] {
      return issued < static_cast<int>(files.size()) && issued - done < window;
    };
    auto all_done = [&] { return done == static_cast<int>(files.size()); };
    auto wake = [&] { return can_issue() || all_done(); };
    if (tty) {
      mu.AwaitWithTimeout(absl::Condition(&wake), absl::Milliseconds(100));
      display.Draw(DisplayLines(files, worker_views, root, done, failed, bytes_done, total_bytes));
    } else {
      mu.Await(absl::Condition(&wake));
    }
    if (all_done()) break;
    while (can_issue()) {
      const int i = issued++;
      hashpool::v1::AnalyzeRequest request;
      request.set_path(files[i].path.string());
      mu.Unlock();  // the callbacks may run right away, on this thread
      host.AnalyzeWithProgressAsync(
          request,
          [&, i](hashpool::v1::AnalyzeProgress progress) {
            absl::MutexLock lock(&mu);
            ++messages;
            FileResult& file = files[i];
            file.worker_pid = progress.worker_pid();
            WorkerView& worker = worker_views[progress.worker_pid()];
            if (progress.has_result()) {
              file.result = progress.result();
              // The worker's next file may have reported already: the
              // callbacks of different streams run on different threads.
              if (worker.file == i) worker.file = -1;
              return;
            }
            worker.file = i;
            bytes_done += progress.bytes_done() - file.bytes_done;
            file.bytes_done = progress.bytes_done();
          },
          [&, i](absl::Status status) {
            absl::MutexLock lock(&mu);
            FileResult& file = files[i];
            if (status.ok() && !file.result.has_value()) {
              status = absl::InternalError("the stream ended without a result");
            }
            if (status.ok()) {
              file.reply = *file.result;
            } else {
              file.reply = status;
              ++failed;
            }
            if (file.worker_pid != 0) {
              WorkerView& worker = worker_views[file.worker_pid];
              if (worker.file == i) worker.file = -1;
              if (status.ok()) {
                ++worker.files_done;
                worker.bytes_done += file.size;
              } else if (iw::WorkerCrashOf(status).has_value()) {
                worker.crashed_on = file.path.string();
              }
            }
            bytes_done += file.size - file.bytes_done;
            file.bytes_done = file.size;
            ++done;
            if (!tty) quarters.Update(done);
          });
      mu.Lock();
    }
  }
  const absl::Duration pool_time = absl::Now() - start;

  // 4. Results.
  int ok_count = 0;
  int64_t ok_bytes = 0, compressed = 0;
  std::set<int> pids;
  std::vector<const FileResult*> failures;
  for (const FileResult& file : files) {
    if (file.reply.ok()) {
      ++ok_count;
      ok_bytes += file.reply->size();
      compressed += file.reply->compressed_size();
      pids.insert(file.reply->worker_pid());
    } else {
      failures.push_back(&file);
    }
  }
  std::printf("processed %zu files: %d ok, %zu failed\n", files.size(), ok_count, failures.size());
  for (const FileResult* file : failures) {
    std::printf("failed: %s: %s\n", file->path.c_str(), Indented(file->reply.status()).c_str());
  }
  std::printf("streamed %lld progress messages for %zu files\n", static_cast<long long>(messages),
              files.size());
  for (const auto& [pid, worker] : worker_views) {
    std::printf(
        "worker pid %d: %d files, %.1f MiB%s\n", pid, worker.files_done, MiB(worker.bytes_done),
        worker.crashed_on.empty() ? ""
                                  : absl::StrCat(", then crashed on ", worker.crashed_on).c_str());
  }
  std::printf(
      "pool: %.2f s wall for %.1f MiB (%.1f MiB/s), results from %zu worker processes; "
      "compressed to %.1f%% of the size\n",
      absl::ToDoubleSeconds(pool_time), MiB(ok_bytes),
      MiB(ok_bytes) / absl::ToDoubleSeconds(pool_time), pids.size(),
      ok_bytes ? 100.0 * compressed / ok_bytes : 0.0);

  // The pool replaces a crashed worker in the background: give the
  // replacement a moment to be up, so the stats show the pool at full strength.
  iw::PoolStats stats = host.stats();
  for (absl::Time settle = absl::Now() + absl::Seconds(5);
       absl::Now() < settle &&
       (stats.workers < workers ||
        stats.calls_completed + stats.calls_failed < static_cast<int64_t>(files.size()));
       stats = host.stats()) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  absl::Status closed = host.Close();

  // 5. The same work inline: single-threaded, in this process. Only for the
  // files the pool could do: the poison file would abort() this process (and
  // with it the whole run) instead of one replaceable worker.
  int mismatches = 0;
  start = absl::Now();
  for (const FileResult& file : files) {
    if (!file.reply.ok()) continue;
    absl::StatusOr<hashpool::Analysis> inline_result = hashpool::AnalyzeFile(file.path.string());
    if (!inline_result.ok() || inline_result->sha256 != file.reply->sha256() ||
        inline_result->compressed_size != file.reply->compressed_size()) {
      ++mismatches;
      std::printf("MISMATCH: %s\n", file.path.c_str());
    }
  }
  const absl::Duration inline_time = absl::Now() - start;
  std::printf("inline: %.2f s wall for the same %d files, single-threaded in the host\n",
              absl::ToDoubleSeconds(inline_time), ok_count);
  std::printf("speed-up over inline: %.2fx with %d workers\n",
              absl::ToDoubleSeconds(inline_time) / absl::ToDoubleSeconds(pool_time), workers);
  if (mismatches == 0) {
    std::printf("pool and inline results agree for all %d files\n", ok_count);
  }
  std::printf(
      "pool: workers spawned: %lld, workers crashed: %lld, calls completed: %lld, "
      "calls failed: %lld\n",
      static_cast<long long>(stats.workers_spawned), static_cast<long long>(stats.workers_crashed),
      static_cast<long long>(stats.calls_completed), static_cast<long long>(stats.calls_failed));
  std::printf("closed the pool: %s\n", closed.ToString().c_str());

  // What we expected: with the sample tree exactly poison.bin fails, with
  // the crash reported as UNAVAILABLE; with your own files, nothing fails.
  bool as_expected = mismatches == 0 && closed.ok();
  if (generated) {
    as_expected = as_expected && failures.size() == 1 && failures[0]->path == poison &&
                  failures[0]->reply.status().code() == absl::StatusCode::kUnavailable;
  } else {
    as_expected = as_expected && failures.empty();
  }
  return as_expected ? 0 : 1;
}
