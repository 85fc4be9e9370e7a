// The host of the hashpool example: SHA-256 and zlib ratio of every file of a
// directory tree, computed by a pool of worker processes (one per CPU), then
// the same work inline in this process, for comparison.
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
};

// Progress on stderr: a live bar on a terminal, a few lines otherwise.
class Progress {
 public:
  Progress(int total_files, int64_t total_bytes)
      : tty_(::isatty(STDERR_FILENO) == 1), total_files_(total_files), total_bytes_(total_bytes) {}

  bool tty() const { return tty_; }

  // With the caller's lock held; `done`/`bytes` so far.
  void Update(int done, int failed, int64_t bytes) {
    if (tty_) {
      constexpr int kWidth = 30;
      int filled = total_files_ ? kWidth * done / total_files_ : kWidth;
      std::fprintf(stderr, "\r  [%s%s] %3d%%  %d/%d files  %.1f/%.1f MiB  %d failed ",
                   std::string(filled, '#').c_str(), std::string(kWidth - filled, '.').c_str(),
                   total_files_ ? 100 * done / total_files_ : 100, done, total_files_, MiB(bytes),
                   MiB(total_bytes_), failed);
      if (done == total_files_) std::fprintf(stderr, "\n");
      std::fflush(stderr);
      return;
    }
    // Not a terminal (a log, a test): a line at each quarter.
    while (next_quarter_ <= 4 && done * 4 >= next_quarter_ * total_files_) {
      std::fprintf(stderr, "progress: %d/%d files (%d%%)\n", done, total_files_,
                   25 * next_quarter_);
      ++next_quarter_;
    }
  }

 private:
  const bool tty_;
  const int total_files_;
  const int64_t total_bytes_;
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

  // The framework logs a worker crash (level error) to stderr. On a terminal
  // that line would land in the middle of the progress bar: clear the bar's
  // line first (the bar is redrawn on the next tick).
  if (::isatty(STDERR_FILENO) == 1) {
    iw::SetLogSink([](const iw::LogRecord& record) {
      std::fprintf(stderr, "\r\033[K[iw %s] %s\n", iw::LogLevelName(record.level),
                   record.message.c_str());
    });
  }

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

  // 3. Every file through the pool. The callbacks run on framework threads;
  // they only record the result. A few calls more than there are workers are
  // kept in flight, so a worker never waits for this loop, and the pool's
  // queue stays short however many files there are.
  absl::Mutex mu;
  int issued = 0, done = 0, failed = 0;
  int64_t bytes_done = 0;
  Progress progress(static_cast<int>(files.size()), total_bytes);
  const int window = 2 * workers;
  start = absl::Now();
  while (true) {
    absl::MutexLock lock(&mu);
    auto can_issue = [&] {
      return issued < static_cast<int>(files.size()) && issued - done < window;
    };
    auto all_done = [&] { return done == static_cast<int>(files.size()); };
    auto wake = [&] { return can_issue() || all_done(); };
    if (progress.tty()) {
      mu.AwaitWithTimeout(absl::Condition(&wake), absl::Milliseconds(100));
      progress.Update(done, failed, bytes_done);
    } else {
      mu.Await(absl::Condition(&wake));
    }
    if (all_done()) break;
    while (can_issue()) {
      const int i = issued++;
      hashpool::v1::AnalyzeRequest request;
      request.set_path(files[i].path.string());
      mu.Unlock();  // the callback may run right away, on this thread
      host.AnalyzeAsync(request, [&, i](absl::StatusOr<hashpool::v1::AnalyzeReply> reply) {
        absl::MutexLock lock(&mu);
        if (!reply.ok()) ++failed;
        files[i].reply = std::move(reply);
        bytes_done += files[i].size;
        ++done;
        if (!progress.tty()) progress.Update(done, failed, bytes_done);
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
