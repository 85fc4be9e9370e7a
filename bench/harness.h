// Shared helpers of the benchmark harness (:bench): the clock and the
// statistics every workload reduces its samples with, a latch for calls in
// flight, CPU accounting, and the process and socket helpers the raw gRPC and
// floor systems spawn their servers with.
#ifndef IW_BENCH_HARNESS_H_
#define IW_BENCH_HARNESS_H_

#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace iwbench {
namespace harness {

using Clock = std::chrono::steady_clock;

// Prints "bench: <message>" to stderr, kills (SIGKILL) and reaps every
// child process (ChildProcesses()) and exits 1 at once.
[[noreturn]] void Die(const std::string& message);

double Us(Clock::duration d);
double Ms(Clock::duration d);

// Percentile (0..100) by nearest rank on a sorted copy; NAN if empty.
double Percentile(std::vector<double> v, double p);
// NAN if empty.
double Median(std::vector<double> v);
// `v` must not be empty.
double Min(const std::vector<double>& v);

// Counts down from `count`; Wait() returns at zero. Held by shared_ptr in
// callbacks, so it outlives the last CountDown().
class Latch {
 public:
  explicit Latch(int count) : count_(count) {}
  void CountDown();
  // Dies after 120 s.
  void Wait();

 private:
  absl::Mutex mu_;
  int count_ ABSL_GUARDED_BY(mu_);
};

// --- CPU accounting ----------------------------------------------------------

// user + sys of this process and all its threads (getrusage(RUSAGE_SELF)),
// in µs.
double SelfCpuUs();
// CPU time (user + sys) of the live process `pid`, all its threads
// including those that have exited, in µs: clock_gettime() on its
// clock_getcpuclockid() clock, which Linux grants for any process and reads
// from the scheduler's per-thread-group runtime (ns resolution). Falls back
// to utime + stime from /proc/<pid>/stat (clock-tick resolution, 10 ms).
// (getrusage(RUSAGE_CHILDREN) would only count children already reaped.)
double ProcessCpuUs(int pid);

// --- Progress (--verbose) ----------------------------------------------------

void SetVerbose(bool verbose);
// printf to stderr when verbose.
void Progress(const char* fmt, ...) __attribute__((format(printf, 1, 2)));

// --- Close() errors of ours, counted and reported under the table ------------

void CountCloseError();
int CloseErrors();

// --- Process and socket helpers ----------------------------------------------

// "<dir>/<prefix><n>.sock" with a process-wide counter n.
std::string NewSocketPath(const std::string& dir, const char* prefix);
// Pids of this process's live children (from /proc/*/stat), zombies
// included: after every system has closed its workers there must be none.
std::vector<int> ChildProcesses();
// posix_spawn of args[0] with `args`; `fd_to_3` (if >= 0) becomes fd 3.
pid_t Spawn(const std::vector<std::string>& args, int fd_to_3);
// waitpid, retried on EINTR.
void Reap(pid_t pid);
// Whether `fd` became readable within `timeout_ms`.
bool PollIn(int fd, int timeout_ms);
// Die on error or EOF.
void WriteAll(int fd, const char* data, size_t size);
void ReadAll(int fd, char* data, size_t size);

}  // namespace harness
}  // namespace iwbench

#endif  // IW_BENCH_HARNESS_H_
