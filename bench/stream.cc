// Server streaming.
//
// stream: one call streams Plan::stream_messages small messages
// (Plan::stream_payload bytes each) from the worker to the host, read as fast
// as they come (ours: ResponseStream::Next(); gRPC: a sync ClientReader; floor:
// length-prefixed frames written in 64 KiB chunks, read in large reads and
// counted). One warm-up stream of a tenth of the messages, then one timed
// stream: messages/s, wall µs per message, and CPU per message of host
// (getrusage(RUSAGE_SELF)) and worker (ProcessCpuUs()).
//
// stream_memory: a reader that pauses after every message of a large stream
// (Plan::memory_stream_mib MiB of Plan::memory_message_kib KiB messages), so
// the writer is always ahead. Without flow control the unread part would pile
// up in the host (or the worker) until it is the whole stream; with it both
// stay flat. Peak RSS growth of host and worker over the stream: the kernel's
// high-water mark (VmHWM, reset through /proc/<pid>/clear_refs at the start)
// minus the resident size at the start (VmRSS).
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <fstream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "bench/harness.h"
#include "bench/workloads.h"

namespace iwbench {
namespace harness {
namespace {

using Seconds = std::chrono::duration<double>;

std::string Proc(int pid) { return pid == 0 ? "/proc/self" : absl::StrCat("/proc/", pid); }

// A "VmRSS"-like line of /proc/<pid>/status, in MiB.
double StatusMib(int pid, const char* field) {
  std::ifstream in(Proc(pid) + "/status");
  const std::string prefix = absl::StrCat(field, ":");
  for (std::string line; std::getline(in, line);) {
    absl::string_view rest = line;
    if (!absl::ConsumePrefix(&rest, prefix)) continue;
    rest = absl::StripAsciiWhitespace(rest);
    absl::ConsumeSuffix(&rest, " kB");
    int64_t kib;
    if (!absl::SimpleAtoi(rest, &kib)) break;
    return kib / 1024.0;
  }
  Die(absl::StrCat("no ", field, " in ", Proc(pid), "/status"));
}

// Resets the process's peak RSS (VmHWM) to its current RSS (Linux >= 4.0).
void ResetPeakRss(int pid) {
  std::ofstream out(Proc(pid) + "/clear_refs");
  out << "5";
  out.flush();
  if (!out) Die(absl::StrCat("cannot write ", Proc(pid), "/clear_refs"));
}

}  // namespace

void DefineStreamMetrics(Results& r, const Plan& plan) {
  const std::string what = absl::StrCat(plan.stream_messages, " × ", plan.stream_payload, " B");
  r.DefineCallRate("stream.rate", absl::StrCat("server stream, ", what, " (messages/s)"));
  r.DefineLower("stream.us", "server stream: wall time per message (µs)");
  r.DefineLower("stream.cpu", "server stream: CPU per message, host+worker (µs)");
  r.DefineLower("stream.cpu.host", "… of which host (µs)");
  r.DefineLower("stream.cpu.worker", "… of which worker (µs)");
}

void RunStream(System& sys, Conn& conn, const Plan& plan, Results& r) {
  conn.ReadStream(std::max<int64_t>(1, plan.stream_messages / 10), plan.stream_payload,
                  std::chrono::microseconds(0));
  const double host0 = SelfCpuUs(), worker0 = ProcessCpuUs(conn.pid());
  Clock::time_point t0 = Clock::now();
  conn.ReadStream(plan.stream_messages, plan.stream_payload, std::chrono::microseconds(0));
  const double seconds = Seconds(Clock::now() - t0).count();
  const double host = SelfCpuUs() - host0, worker = ProcessCpuUs(conn.pid()) - worker0;
  const double n = static_cast<double>(plan.stream_messages);
  r.Record("stream.rate", sys.name(), n / seconds);
  r.Record("stream.us", sys.name(), seconds * 1e6 / n);
  r.Record("stream.cpu", sys.name(), (host + worker) / n);
  r.Record("stream.cpu.host", sys.name(), host / n);
  r.Record("stream.cpu.worker", sys.name(), worker / n);
  Progress("  %s: stream: %.0f messages/s, host %.2f µs, worker %.2f µs per message\n", sys.name(),
           n / seconds, host / n, worker / n);
}

void DefineStreamMemoryMetrics(Results& r, const Plan& plan) {
  const std::string what =
      absl::StrCat(plan.memory_stream_mib, " MiB stream of ", plan.memory_message_kib,
                   " KiB messages, reader pausing ", plan.memory_pause_us, " µs per message");
  r.DefineLower("stream_mem.host",
                absl::StrCat("slow reader of a ", what, ": host peak RSS growth (MiB)"));
  r.DefineLower("stream_mem.worker", "… worker peak RSS growth (MiB)");
  r.DefineLower("stream_mem.seconds", "… wall time of the stream (s)");
}

void RunStreamMemory(System& sys, Conn& conn, const Plan& plan, Results& r) {
  const int worker = conn.pid();
  const size_t payload = static_cast<size_t>(plan.memory_message_kib) << 10;
  const int64_t count = (plan.memory_stream_mib << 20) / static_cast<int64_t>(payload);
  ResetPeakRss(0);
  ResetPeakRss(worker);
  const double host_rss = StatusMib(0, "VmRSS"), worker_rss = StatusMib(worker, "VmRSS");
  Clock::time_point t0 = Clock::now();
  conn.ReadStream(count, payload, std::chrono::microseconds(plan.memory_pause_us));
  const double seconds = Seconds(Clock::now() - t0).count();
  const double host_growth = StatusMib(0, "VmHWM") - host_rss;
  const double worker_growth = StatusMib(worker, "VmHWM") - worker_rss;
  r.Record("stream_mem.host", sys.name(), host_growth);
  r.Record("stream_mem.worker", sys.name(), worker_growth);
  r.Record("stream_mem.seconds", sys.name(), seconds);
  Progress(
      "  %s: slow stream of %lld messages: host +%.1f MiB (from %.1f), worker +%.1f MiB "
      "(from %.1f), %.1f s\n",
      sys.name(), static_cast<long long>(count), host_growth, host_rss, worker_growth, worker_rss,
      seconds);
}

}  // namespace harness
}  // namespace iwbench
