// The host of the prometheus_metrics example: a pool of 2 workers whose
// metrics (HostBase::Metrics()) are served to Prometheus at /metrics by
// prometheus-cpp's Exposer, through iw::PrometheusExporter, next to a metric
// of the program's own in a prometheus::Registry.
//
//   tools/bazel run //examples/prometheus_metrics:inventory
//   curl -s http://127.0.0.1:<port>/metrics | grep '^iw_'
//
// It makes a known sequence of calls: first --abort_calls calls whose first
// attempt aborts its worker (SIGABRT; CRASH_RETRY runs them again on another
// worker), then --ok_calls that answer and --invalid_calls that fail with
// INVALID_ARGUMENT. It waits for the pool to be back to 2 ready workers,
// prints "ready to scrape: <url>", and serves until stdin reaches its end (or
// a line is read), at most --serve_seconds. //examples/prometheus_metrics:
// prometheus_metrics_test drives it so and checks the scraped values.
//
// Flags: --ok_calls=N (5) --invalid_calls=N (2) --abort_calls=N (1)
//        --serve_seconds=S (600) --bind=ADDRESS (127.0.0.1:0, 0 = any free port)
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include <prometheus/counter.h>
#include <prometheus/exposer.h>
#include <prometheus/registry.h>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "examples/prometheus_metrics/inventory.iw.h"
#include "runtime/paths.h"
#include "runtime/prometheus/prometheus_exporter.h"

namespace {

using prometheus_metrics::v1::CheckReply;
using prometheus_metrics::v1::CheckRequest;
using prometheus_metrics::v1::InventoryHost;

struct Flags {
  int ok_calls = 5;
  int invalid_calls = 2;
  int abort_calls = 1;
  int serve_seconds = 600;
  std::string bind = "127.0.0.1:0";
};

bool ParseFlags(int argc, char** argv, Flags& flags) {
  for (int i = 1; i < argc; ++i) {
    absl::string_view arg = argv[i];
    auto int_flag = [&](absl::string_view name, int& value) {
      const std::string prefix = absl::StrCat("--", name, "=");
      return absl::StartsWith(arg, prefix) && absl::SimpleAtoi(arg.substr(prefix.size()), &value) &&
             value >= 0;
    };
    if (int_flag("ok_calls", flags.ok_calls) || int_flag("invalid_calls", flags.invalid_calls) ||
        int_flag("abort_calls", flags.abort_calls) ||
        int_flag("serve_seconds", flags.serve_seconds)) {
      continue;
    }
    if (absl::StartsWith(arg, "--bind=")) {
      flags.bind = std::string(arg.substr(7));
      continue;
    }
    std::fprintf(stderr, "unknown or bad flag: %s\n", argv[i]);
    return false;
  }
  return true;
}

std::string Marker(int n) {
  const char* tmp = std::getenv("TMPDIR");
  return absl::StrCat(tmp && *tmp ? tmp : "/tmp", "/prometheus_metrics-", ::getpid(), "-", n);
}

// Until stdin ends or has a line, at most `limit`.
void WaitForStdin(absl::Duration limit) {
  const absl::Time give_up = absl::Now() + limit;
  for (absl::Time now = absl::Now(); now < give_up; now = absl::Now()) {
    pollfd fd = {STDIN_FILENO, POLLIN, 0};
    const int timeout_ms =
        static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(give_up - now), 1000));
    if (::poll(&fd, 1, timeout_ms) > 0) return;  // a line, the end, or an error
  }
  std::printf("--serve_seconds passed\n");
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  Flags flags;
  if (!ParseFlags(argc, argv, flags)) return 2;

  // The HTTP endpoint, with the program's own metrics in a Registry and the
  // hosts' through the exporter: both served at /metrics.
  prometheus::Exposer exposer(flags.bind);
  auto registry = std::make_shared<prometheus::Registry>();
  prometheus::Counter& calls_made = prometheus::BuildCounter()
                                        .Name("inventory_example_calls_made_total")
                                        .Help("Calls this program made (its own metric).")
                                        .Register(*registry)
                                        .Add({});
  auto exporter = std::make_shared<iw::PrometheusExporter>();
  exposer.RegisterCollectable(registry);
  exposer.RegisterCollectable(exporter);
  const std::vector<int> ports = exposer.GetListeningPorts();
  if (ports.empty()) {
    std::fprintf(stderr, "Exposer on %s: no listening port\n", flags.bind.c_str());
    return 1;
  }
  const std::string url = absl::StrCat("http://127.0.0.1:", ports[0], "/metrics");
  std::printf("metrics at %s\n", url.c_str());

  iw::WorkerOptions options;
  options.executable = iw::SiblingExecutable("inventory_worker");
  iw::PoolOptions pool;
  pool.min_workers = 2;
  pool.max_workers = 2;
  absl::StatusOr<std::unique_ptr<InventoryHost>> spawned = InventoryHost::SpawnPool(options, pool);
  if (!spawned.ok()) {
    std::printf("SpawnPool failed: %s\n", spawned.status().ToString().c_str());
    return 1;
  }
  std::unique_ptr<InventoryHost> host = std::move(*spawned);
  bool ok = true;
  {
    // Declared after `host`, so destroyed (unregistered) before it.
    absl::StatusOr<iw::PrometheusExporter::Registration> registration =
        exporter->Add(*host, {{"host", "inventory-1"}});
    if (!registration.ok()) {
      std::printf("PrometheusExporter::Add: %s\n", registration.status().ToString().c_str());
      return 1;
    }

    auto call = [&](const std::string& sku, prometheus_metrics::v1::Outcome outcome,
                    const std::string& marker, absl::StatusCode expected) {
      CheckRequest request;
      request.set_sku(sku);
      request.set_outcome(outcome);
      request.set_once_marker(marker);
      calls_made.Increment();
      absl::StatusOr<CheckReply> reply = host->Check(request);
      std::printf("Check(\"%s\") -> %s\n", sku.c_str(),
                  reply.ok() ? absl::StrCat("OK \"", reply->verdict(), "\"").c_str()
                             : reply.status().ToString().c_str());
      if (reply.status().code() != expected) ok = false;
    };
    for (int i = 0; i < flags.abort_calls; ++i) {
      const std::string marker = Marker(i);
      call(absl::StrCat("abort-", i), prometheus_metrics::v1::OUTCOME_ABORT_ONCE, marker,
           absl::StatusCode::kOk);
      ::unlink(marker.c_str());
    }
    for (int i = 0; i < flags.ok_calls; ++i) {
      call(absl::StrCat("sku-", i), prometheus_metrics::v1::OUTCOME_IN_STOCK, "",
           absl::StatusCode::kOk);
    }
    for (int i = 0; i < flags.invalid_calls; ++i) {
      call(absl::StrCat("bad-", i), prometheus_metrics::v1::OUTCOME_INVALID, "",
           absl::StatusCode::kInvalidArgument);
    }

    // The dead workers' replacements start in the background: wait for them,
    // so that a scrape sees the pool as it stays.
    const absl::Time give_up = absl::Now() + absl::Seconds(30);
    while (host->stats().workers < 2 && absl::Now() < give_up) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    if (host->stats().workers < 2) {
      std::printf("the pool is not back to 2 ready workers after 30 s\n");
      ok = false;
    }
    std::printf("calls done: %d OK, %d INVALID_ARGUMENT, %d retried after an abort\n",
                flags.ok_calls + flags.abort_calls, flags.invalid_calls, flags.abort_calls);
    std::printf("ready to scrape: %s (until stdin ends, at most %d s)\n", url.c_str(),
                flags.serve_seconds);
    WaitForStdin(absl::Seconds(flags.serve_seconds));
  }
  const absl::Status closed = host->Close();
  std::printf("Close() -> %s\n", closed.ToString().c_str());
  if (!closed.ok()) ok = false;
  std::printf("%s\n", ok ? "done" : "SOMETHING UNEXPECTED");
  return ok ? 0 : 1;
}
