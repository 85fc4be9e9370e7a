// The fast-start example's worker. main() builds a lookup table before
// RunProbeWorker(): with StartMode::kForkServer that runs once, in the fork
// server, and every worker inherits the table. Per-process setup goes in
// WorkerConfig::on_start, which runs in every worker.
#include <unistd.h>

#include <cstdint>
#include <vector>

#include "examples/fast_start/fast_start.iw.h"

namespace {

using faststart::v1::WhoamiReply;
using faststart::v1::WhoamiRequest;

struct Table {
  std::vector<uint64_t> values;
  int built_by_pid = 0;
  uint64_t checksum = 0;
};

// Stands for expensive one-time initialisation (a model, a dictionary).
Table BuildTable() {
  Table table;
  table.built_by_pid = ::getpid();
  uint64_t x = 88172645463325252ull;
  for (int i = 0; i < 1 << 16; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    table.values.push_back(x);
    table.checksum += x;
  }
  return table;
}

int g_on_start_pid = 0;

class Probe final : public faststart::v1::ProbeHandler {
 public:
  explicit Probe(const Table& table) : table_(table) {}

  absl::StatusOr<WhoamiReply> Whoami(iw::CallContext& /*context*/,
                                     const WhoamiRequest& /*request*/) override {
    WhoamiReply reply;
    reply.set_pid(::getpid());
    reply.set_parent_pid(::getppid());
    reply.set_table_built_by_pid(table_.built_by_pid);
    reply.set_on_start_ran_in_pid(g_on_start_pid);
    reply.set_table_checksum(table_.checksum);
    return reply;
  }

 private:
  const Table& table_;
};

}  // namespace

int main(int argc, char** argv) {
  const Table table = BuildTable();  // once per fork server, or once per exec
  iw::WorkerConfig config;
  config.on_start = [] {
    g_on_start_pid = ::getpid();  // e.g. reseed, open per-worker files, start threads
    return absl::OkStatus();
  };
  Probe handler(table);
  return faststart::v1::RunProbeWorker(argc, argv, handler, config);
}
