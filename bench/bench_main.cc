// Benchmark harness: our runtime (generated iwbench::BenchHost) vs a raw gRPC
// C++ callback server over a Unix socket vs the raw Unix-socket floor.
//
//   tools/bazel run -c opt //bench:bench                 # --runs=5
//   tools/bazel run -c opt //bench:bench -- --quick      # smoke run
//
// Every workload runs for all three systems, interleaved (ours, baseline,
// floor, repeat) --runs times. Each run yields one statistic per workload
// (e.g. the run's median latency); the table shows the median of the per-run
// statistics. See bench/README.md for the workloads.
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <grpc/grpc.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdarg>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "bench/bench.grpc.pb.h"
#include "bench/bench.iw.h"
#include "bench/spin.h"

extern char** environ;

namespace iwbench {
namespace {

using Clock = std::chrono::steady_clock;

[[noreturn]] void Die(const std::string& message) {
  std::fprintf(stderr, "bench: %s\n", message.c_str());
  std::fflush(nullptr);
  std::_Exit(1);
}

double Us(Clock::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }
double Ms(Clock::duration d) { return std::chrono::duration<double, std::milli>(d).count(); }

// Percentile (0..100) by nearest rank on a sorted copy.
double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * v.size()));
  if (rank == 0) rank = 1;
  return v[std::min(rank, v.size()) - 1];
}
double Median(std::vector<double> v) {
  if (v.empty()) return NAN;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}
double Min(const std::vector<double>& v) { return *std::min_element(v.begin(), v.end()); }

// Counts down from `count`; Wait() returns at zero. Held by shared_ptr in
// callbacks, so it outlives the last CountDown().
class Latch {
 public:
  explicit Latch(int count) : count_(count) {}
  void CountDown() {
    absl::MutexLock lock(&mu_);
    --count_;
  }
  void Wait() {
    absl::MutexLock lock(&mu_);
    auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return count_ <= 0; };
    if (!mu_.AwaitWithTimeout(absl::Condition(&done), absl::Seconds(120))) {
      Die("timed out waiting for replies");
    }
  }

 private:
  absl::Mutex mu_;
  int count_ ABSL_GUARDED_BY(mu_);
};

// ---------------------------------------------------------------------------
// CPU accounting

double SelfCpuUs() {
  rusage ru;
  ::getrusage(RUSAGE_SELF, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 + ru.ru_utime.tv_usec +
         ru.ru_stime.tv_usec;
}

// utime + stime of `pid` from /proc/<pid>/stat, in µs (clock-tick resolution).
double ProcessCpuUs(int pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/stat"));
  std::string line;
  std::getline(in, line);
  size_t paren = line.rfind(')');
  if (paren == std::string::npos) Die(absl::StrCat("cannot read /proc/", pid, "/stat"));
  std::vector<std::string> fields = absl::StrSplit(line.substr(paren + 2), ' ');
  // fields[0] is field 3 (state); utime and stime are fields 14 and 15.
  double utime = std::stod(fields[11]), stime = std::stod(fields[12]);
  return (utime + stime) * 1e6 / ::sysconf(_SC_CLK_TCK);
}

// ---------------------------------------------------------------------------
// Process helpers

std::string g_temp_dir;
std::atomic<int> g_close_errors{0};
std::atomic<int> g_socket_counter{0};

std::string NewSocketPath(const char* prefix) {
  return absl::StrCat(g_temp_dir, "/", prefix, g_socket_counter.fetch_add(1), ".sock");
}

pid_t Spawn(const std::vector<std::string>& args, int fd_to_3) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (fd_to_3 >= 0) posix_spawn_file_actions_adddup2(&actions, fd_to_3, 3);
  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  pid_t pid;
  int err = ::posix_spawn(&pid, args[0].c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (err != 0) Die(absl::StrCat("posix_spawn ", args[0], ": ", ::strerror(err)));
  return pid;
}

void Reap(pid_t pid) {
  int status;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
}

bool PollIn(int fd, int timeout_ms) {
  pollfd p = {fd, POLLIN, 0};
  int n;
  do {
    n = ::poll(&p, 1, timeout_ms);
  } while (n < 0 && errno == EINTR);
  return n == 1;
}

void WriteAll(int fd, const char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) Die(absl::StrCat("write: ", ::strerror(errno)));
    data += n;
    size -= static_cast<size_t>(n);
  }
}

void ReadAll(int fd, char* data, size_t size) {
  while (size > 0) {
    ssize_t n = ::read(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) Die(absl::StrCat("read: ", n == 0 ? "EOF" : ::strerror(errno)));
    data += n;
    size -= static_cast<size_t>(n);
  }
}

// ---------------------------------------------------------------------------
// The three systems behind one interface.

// One connected worker.
class Conn {
 public:
  virtual ~Conn() = default;
  // One small synchronous round trip.
  virtual void Ping() = 0;
  // Starts `n` small calls at once; each completion counts `latch` down.
  virtual void IssuePings(int n, std::shared_ptr<Latch> latch) = 0;
  // For systems without their own threads (the floor): read the replies.
  virtual void CollectPings() {}
  // Echo: PrepareEcho (untimed) builds the request, Echo() is one round trip.
  virtual void PrepareEcho(size_t bytes) = 0;
  virtual void Echo() = 0;
  virtual bool SupportsSpin() const { return true; }
  virtual void SpinAsync(int64_t iterations, std::function<void()> done) = 0;
  virtual int pid() const = 0;
  // Stops the worker and reaps it.
  virtual void Close() = 0;
};

class System {
 public:
  virtual ~System() = default;
  virtual const char* name() const = 0;
  // Starts a worker and returns once it can take calls.
  virtual std::unique_ptr<Conn> Start() = 0;
  // A real pool of `n` workers behind one connection, if the system has
  // pools (ours); nullptr otherwise (the bench then emulates one).
  virtual std::unique_ptr<Conn> StartPool(int /*n*/) { return nullptr; }
};

// --no_call_stream: ours without the call stream (an experiment).
bool g_ours_call_stream = true;

// --- ours -------------------------------------------------------------------

class OursConn final : public Conn {
 public:
  // `inline_ping`: Ping() and IssuePings() call PingInline (an
  // (iw.method).inline_handler method) instead of Ping.
  explicit OursConn(std::unique_ptr<BenchHost> host, bool inline_ping = false)
      : host_(std::move(host)), inline_ping_(inline_ping) {}

  void Ping() override {
    PingRequest request;
    request.set_t(1);
    absl::StatusOr<PingReply> reply =
        inline_ping_ ? host_->PingInline(request) : host_->Ping(request);
    if (!reply.ok()) Die("ours Ping: " + reply.status().ToString());
  }
  void IssuePings(int n, std::shared_ptr<Latch> latch) override {
    PingRequest request;
    for (int i = 0; i < n; ++i) {
      request.set_t(i);
      auto done = [latch](absl::StatusOr<PingReply> reply) {
        if (!reply.ok()) Die("ours PingAsync: " + reply.status().ToString());
        latch->CountDown();
      };
      if (inline_ping_) {
        host_->PingInlineAsync(request, std::move(done));
      } else {
        host_->PingAsync(request, std::move(done));
      }
    }
  }
  void PrepareEcho(size_t bytes) override {
    echo_.set_data(std::string(bytes, 'x'));
  }
  void Echo() override {
    absl::StatusOr<EchoReply> reply = host_->Echo(echo_);
    if (!reply.ok()) Die("ours Echo: " + reply.status().ToString());
    if (reply->data().size() != echo_.data().size()) Die("ours Echo: wrong size");
  }
  void SpinAsync(int64_t iterations, std::function<void()> done) override {
    SpinRequest request;
    request.set_iterations(iterations);
    host_->SpinAsync(request, [done = std::move(done)](absl::StatusOr<SpinReply> reply) {
      if (!reply.ok()) Die("ours Spin: " + reply.status().ToString());
      done();
    });
  }
  int pid() const override { return host_->pid(); }
  void Close() override {
    absl::Status closed = host_->Close();
    if (!closed.ok()) {
      // Not fatal: counted and reported under the table.
      std::fprintf(stderr, "bench: ours Close: %s\n", closed.ToString().c_str());
      g_close_errors.fetch_add(1);
    }
  }

 private:
  std::unique_ptr<BenchHost> host_;
  bool inline_ping_;
  EchoRequest echo_;
};

class OursSystem final : public System {
 public:
  // `inline_ping`: the "ours_inline" system (latency and throughput only).
  explicit OursSystem(std::string worker, bool inline_ping = false)
      : worker_(std::move(worker)), inline_ping_(inline_ping) {}
  const char* name() const override { return inline_ping_ ? "ours_inline" : "ours"; }
  std::unique_ptr<Conn> Start() override {
    iw::WorkerOptions options;
    options.executable = worker_;
    options.call_stream = g_ours_call_stream;
    absl::StatusOr<std::unique_ptr<BenchHost>> host = BenchHost::Spawn(options);
    if (!host.ok()) Die("ours Spawn: " + host.status().ToString());
    return std::make_unique<OursConn>(*std::move(host), inline_ping_);
  }
  std::unique_ptr<Conn> StartPool(int n) override {
    iw::WorkerOptions options;
    options.executable = worker_;
    options.call_stream = g_ours_call_stream;
    iw::PoolOptions pool;
    pool.min_workers = pool.max_workers = n;
    pool.max_calls_per_worker = 1;  // CPU-bound: one call per process
    absl::StatusOr<std::unique_ptr<BenchHost>> host = BenchHost::SpawnPool(options, pool);
    if (!host.ok()) Die("ours SpawnPool: " + host.status().ToString());
    return std::make_unique<OursConn>(*std::move(host));
  }

 private:
  std::string worker_;
  bool inline_ping_;
};

// --- raw gRPC ---------------------------------------------------------------

constexpr int kMaxMessageBytes = 64 << 20;

std::chrono::system_clock::time_point DeadlineIn(int seconds) {
  return std::chrono::system_clock::now() + std::chrono::seconds(seconds);
}

class GrpcConn final : public Conn {
 public:
  GrpcConn(pid_t pid, std::string path) : pid_(pid), path_(std::move(path)) {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(kMaxMessageBytes);
    args.SetMaxSendMessageSize(kMaxMessageBytes);
    channel_ = grpc::CreateCustomChannel("unix:" + path_, grpc::InsecureChannelCredentials(),
                                         args);
    stub_ = Bench::NewStub(channel_);
  }

  void Ping() override {
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(10));
    PingRequest request;
    request.set_t(1);
    PingReply reply;
    grpc::Status status = stub_->Ping(&context, request, &reply);
    if (!status.ok()) Die("grpc Ping: " + status.error_message());
  }
  void IssuePings(int n, std::shared_ptr<Latch> latch) override {
    struct Call {
      grpc::ClientContext context;
      PingRequest request;
      PingReply reply;
    };
    for (int i = 0; i < n; ++i) {
      auto* call = new Call;
      call->context.set_deadline(DeadlineIn(10));
      call->request.set_t(i);
      stub_->async()->Ping(&call->context, &call->request, &call->reply,
                           [call, latch](grpc::Status status) {
                             if (!status.ok()) Die("grpc async Ping: " + status.error_message());
                             delete call;
                             latch->CountDown();
                           });
    }
  }
  void PrepareEcho(size_t bytes) override { echo_.set_data(std::string(bytes, 'x')); }
  void Echo() override {
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(60));
    EchoReply reply;
    grpc::Status status = stub_->Echo(&context, echo_, &reply);
    if (!status.ok()) Die("grpc Echo: " + status.error_message());
    if (reply.data().size() != echo_.data().size()) Die("grpc Echo: wrong size");
  }
  void SpinAsync(int64_t iterations, std::function<void()> done) override {
    struct Call {
      grpc::ClientContext context;
      SpinRequest request;
      SpinReply reply;
    };
    auto* call = new Call;
    call->context.set_deadline(DeadlineIn(60));
    call->request.set_iterations(iterations);
    stub_->async()->Spin(&call->context, &call->request, &call->reply,
                         [call, done = std::move(done)](grpc::Status status) {
                           if (!status.ok()) Die("grpc Spin: " + status.error_message());
                           delete call;
                           done();
                         });
  }
  int pid() const override { return pid_; }
  void Close() override {
    stub_.reset();
    channel_.reset();
    ::kill(pid_, SIGTERM);
    Reap(pid_);
    ::unlink(path_.c_str());
  }

 private:
  pid_t pid_;
  std::string path_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<Bench::Stub> stub_;
  EchoRequest echo_;
};

class GrpcSystem final : public System {
 public:
  explicit GrpcSystem(std::string server) : server_(std::move(server)) {}
  const char* name() const override { return "grpc"; }
  std::unique_ptr<Conn> Start() override {
    std::string path = NewSocketPath("grpc");
    int ready[2];
    if (::pipe2(ready, O_CLOEXEC) != 0) Die("pipe2");
    // A descriptor number that cannot collide with fd 3 (dup2 onto itself
    // would keep FD_CLOEXEC).
    int ready_write = ::fcntl(ready[1], F_DUPFD_CLOEXEC, 10);
    ::close(ready[1]);
    pid_t pid = Spawn({server_, path, "3"}, ready_write);
    ::close(ready_write);
    char byte;
    if (!PollIn(ready[0], 10000) || ::read(ready[0], &byte, 1) != 1) {
      Die("grpc_baseline_server did not become ready");
    }
    ::close(ready[0]);
    return std::make_unique<GrpcConn>(pid, path);
  }

 private:
  std::string server_;
};

// --- floor ------------------------------------------------------------------

constexpr size_t kSmallPayload = 64;

class FloorConn final : public Conn {
 public:
  FloorConn(pid_t pid, int fd) : pid_(pid), fd_(fd) {
    small_.assign(8 + kSmallPayload, 'p');
    uint64_t length = kSmallPayload;
    std::memcpy(small_.data(), &length, 8);
    reply_.resize(8 + kSmallPayload);
  }
  ~FloorConn() override {
    if (fd_ >= 0) Close();
  }

  void Ping() override {
    WriteAll(fd_, small_.data(), small_.size());
    ReadAll(fd_, reply_.data(), small_.size());
  }
  void IssuePings(int n, std::shared_ptr<Latch> latch) override {
    batch_.clear();
    for (int i = 0; i < n; ++i) batch_.insert(batch_.end(), small_.begin(), small_.end());
    WriteAll(fd_, batch_.data(), batch_.size());  // one write for all n frames
    pending_ += n;
    latch_ = std::move(latch);
  }
  void CollectPings() override {
    size_t bytes = pending_ * small_.size();
    if (batch_reply_.size() < bytes) batch_reply_.resize(bytes);
    ReadAll(fd_, batch_reply_.data(), bytes);
    for (int i = 0; i < pending_; ++i) latch_->CountDown();
    pending_ = 0;
    latch_.reset();
  }
  void PrepareEcho(size_t bytes) override {
    echo_.assign(8 + bytes, 'x');
    uint64_t length = bytes;
    std::memcpy(echo_.data(), &length, 8);
    echo_reply_.resize(8 + bytes);
  }
  void Echo() override {
    WriteAll(fd_, echo_.data(), echo_.size());
    ReadAll(fd_, echo_reply_.data(), echo_reply_.size());
  }
  bool SupportsSpin() const override { return false; }
  void SpinAsync(int64_t, std::function<void()>) override { Die("floor has no Spin"); }
  int pid() const override { return pid_; }
  void Close() override {
    ::close(fd_);  // EOF: the server exits
    fd_ = -1;
    Reap(pid_);
  }

 private:
  pid_t pid_;
  int fd_;
  std::vector<char> small_, reply_, batch_, batch_reply_, echo_, echo_reply_;
  int pending_ = 0;
  std::shared_ptr<Latch> latch_;
};

class FloorSystem final : public System {
 public:
  explicit FloorSystem(std::string server) : server_(std::move(server)) {}
  const char* name() const override { return "floor"; }
  std::unique_ptr<Conn> Start() override {
    std::string path = NewSocketPath("floor");
    int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
    if (::bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(listener, 1) != 0) {
      Die(absl::StrCat("floor bind/listen: ", ::strerror(errno)));
    }
    pid_t pid = Spawn({server_, path}, -1);
    if (!PollIn(listener, 10000)) Die("uds_floor_server did not connect");
    int fd = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) Die("accept");
    ::close(listener);
    ::unlink(path.c_str());
    return std::make_unique<FloorConn>(pid, fd);
  }

 private:
  std::string server_;
};

// ---------------------------------------------------------------------------
// Results

enum class Better { kLower, kHigher };

struct MetricDef {
  std::string key;
  std::string label;
  Better better;
  // Target from the issue (for ours); empty if none.
  std::string target_text;
  double target = NAN;
};

class Results {
 public:
  void Define(MetricDef def) {
    order_.push_back(def.key);
    defs_[def.key] = std::move(def);
  }
  void Record(const std::string& key, const std::string& system, double value) {
    if (!defs_.count(key)) Die("undefined metric " + key);
    values_[key][system].push_back(value);
  }
  void Print(const std::vector<std::string>& systems) const;
  void PrintSpread(const std::vector<std::string>& systems) const;

 private:
  std::vector<std::string> order_;
  std::map<std::string, MetricDef> defs_;
  std::map<std::string, std::map<std::string, std::vector<double>>> values_;
};

std::string Fmt(double v) {
  if (std::isnan(v)) return "–";
  double a = std::fabs(v);
  if (a >= 10000) {
    std::string digits = absl::StrCat(static_cast<int64_t>(std::llround(v)));
    std::string out;
    int n = static_cast<int>(digits.size());
    for (int i = 0; i < n; ++i) {
      out += digits[i];
      if ((n - i - 1) % 3 == 0 && i != n - 1) out += ',';
    }
    return out;
  }
  char buf[64];
  if (a >= 100) std::snprintf(buf, sizeof(buf), "%.0f", v);
  else if (a >= 10) std::snprintf(buf, sizeof(buf), "%.1f", v);
  else if (a >= 1) std::snprintf(buf, sizeof(buf), "%.2f", v);
  else std::snprintf(buf, sizeof(buf), "%.3g", v);
  return buf;
}

std::string FmtRatio(double r) {
  if (std::isnan(r) || std::isinf(r)) return "–";
  char buf[32];
  std::snprintf(buf, sizeof(buf), r >= 10 ? "%.0f×" : "%.2f×", r);
  return buf;
}

const char* SystemTitle(const std::string& s) {
  if (s == "ours") return "ours";
  if (s == "ours_inline") return "ours, inline handler";
  if (s == "grpc") return "raw gRPC";
  return "UDS floor";
}

void Results::Print(const std::vector<std::string>& systems) const {
  auto has = [&](const char* s) {
    return std::find(systems.begin(), systems.end(), s) != systems.end();
  };
  std::printf("| workload |");
  for (const auto& s : systems) std::printf(" %s |", SystemTitle(s));
  if (has("ours") && has("grpc")) std::printf(" ours/gRPC |");
  if (has("ours") && has("floor")) std::printf(" ours/floor |");
  std::printf(" target (ours) |\n|---|");
  for (size_t i = 0; i < systems.size(); ++i) std::printf("---:|");
  if (has("ours") && has("grpc")) std::printf("---:|");
  if (has("ours") && has("floor")) std::printf("---:|");
  std::printf("---|\n");
  for (const std::string& key : order_) {
    auto it = values_.find(key);
    if (it == values_.end()) continue;
    const MetricDef& def = defs_.at(key);
    std::map<std::string, double> med;
    for (const auto& s : systems) {
      auto v = it->second.find(s);
      med[s] = v == it->second.end() ? NAN : Median(v->second);
    }
    std::printf("| %s |", def.label.c_str());
    for (const auto& s : systems) std::printf(" %s |", Fmt(med[s]).c_str());
    // Cost ratio: > 1 means ours is slower / more expensive.
    auto ratio = [&](const std::string& other) {
      return def.better == Better::kLower ? med["ours"] / med[other]
                                          : med[other] / med["ours"];
    };
    if (has("ours") && has("grpc")) std::printf(" %s |", FmtRatio(ratio("grpc")).c_str());
    if (has("ours") && has("floor")) std::printf(" %s |", FmtRatio(ratio("floor")).c_str());
    std::string target = def.target_text;
    if (!target.empty() && has("ours") && !std::isnan(med["ours"]) &&
        !std::isnan(def.target)) {
      bool met = def.better == Better::kLower ? med["ours"] <= def.target
                                              : med["ours"] >= def.target;
      target += met ? " — met" : " — **missed**";
    }
    std::printf(" %s |\n", target.c_str());
  }
}

void Results::PrintSpread(const std::vector<std::string>& systems) const {
  std::printf("| workload |");
  for (const auto& s : systems) std::printf(" %s [min–max] |", SystemTitle(s));
  std::printf("\n|---|");
  for (size_t i = 0; i < systems.size(); ++i) std::printf("---|");
  std::printf("\n");
  for (const std::string& key : order_) {
    auto it = values_.find(key);
    if (it == values_.end()) continue;
    std::printf("| %s |", defs_.at(key).label.c_str());
    for (const auto& s : systems) {
      auto v = it->second.find(s);
      if (v == it->second.end() || v->second.empty()) {
        std::printf(" – |");
        continue;
      }
      auto [lo, hi] = std::minmax_element(v->second.begin(), v->second.end());
      std::printf(" %s–%s |", Fmt(*lo).c_str(), Fmt(*hi).c_str());
    }
    std::printf("\n");
  }
}

// ---------------------------------------------------------------------------
// Workloads

struct Plan {
  // Startup: warm-up + timed iterations (floor: more, it is cheap).
  int startup_warm = 1, startup_iters = 30, floor_startup_iters = 50;
  // Latency.
  int lat_warm = 1000, lat_iters = 10000;
  int floor_lat_warm = 10000, floor_lat_iters = 100000;
  // Throughput: batches of `in_flight`.
  int in_flight = 100;
  int tput_warm = 50, tput_batches = 1000;
  int floor_tput_warm = 1000, floor_tput_batches = 10000;
  // Echo: sizes and iterations (gRPC-based systems / floor).
  std::vector<size_t> echo_sizes = {1 << 10, 64 << 10, 1 << 20, 16 << 20};
  std::vector<int> echo_iters = {5000, 2000, 200, 20};
  std::vector<int> floor_echo_iters = {20000, 5000, 500, 30};
  // Multi-worker.
  int multi_workers = 15, multi_pings = 10;
  int multi_spawn_iters = 5, multi_warm_iters = 30;
  // Pool scaling.
  std::vector<int> pool_sizes = {1, 2, 4};
  int pool_calls = 200;
  int64_t spin_iterations = 1000000;

  void MakeQuick() {
    startup_iters = 3;
    floor_startup_iters = 5;
    lat_warm = 100;
    lat_iters = 1000;
    floor_lat_warm = 1000;
    floor_lat_iters = 5000;
    tput_warm = 5;
    tput_batches = 50;
    floor_tput_warm = 50;
    floor_tput_batches = 500;
    echo_iters = {200, 100, 10, 3};
    floor_echo_iters = {500, 200, 20, 3};
    multi_spawn_iters = 1;
    multi_warm_iters = 3;
    pool_calls = 24;
  }
};

std::string EchoName(size_t bytes) {
  return bytes >= (1 << 20) ? absl::StrCat(bytes >> 20, " MiB") : absl::StrCat(bytes >> 10, " KiB");
}
std::string EchoKey(size_t bytes) { return absl::StrCat("echo", bytes); }

void DefineMetrics(Results& r, const Plan& plan) {
  auto lower = [&](std::string key, std::string label, std::string t = "", double v = NAN) {
    r.Define({std::move(key), std::move(label), Better::kLower, std::move(t), v});
  };
  auto higher = [&](std::string key, std::string label, std::string t = "", double v = NAN) {
    r.Define({std::move(key), std::move(label), Better::kHigher, std::move(t), v});
  };
  lower("startup.ready", "startup: spawn → ready (ms)");
  lower("startup.first", "startup: spawn → first reply (ms)", "≤ 5 ms", 5);
  lower("startup.close", "startup: close → reaped (ms)");
  lower("lat.min", "ping latency min (µs)");
  lower("lat.p50", "ping latency p50 (µs)", "≤ 100 µs", 100);
  lower("lat.p99", "ping latency p99 (µs)", "≤ 250 µs", 250);
  higher("tput.rate", absl::StrCat("throughput, ", plan.in_flight, " in flight (calls/s)"),
         "≥ 150,000/s", 150000);
  lower("tput.batch", absl::StrCat("throughput: batch of ", plan.in_flight, " median (ms)"));
  lower("cpu.total", "CPU per small call at full load, host+worker (µs)", "≤ 10 µs", 10);
  lower("cpu.host", "… of which host (µs)");
  lower("cpu.worker", "… of which worker (µs)");
  for (size_t bytes : plan.echo_sizes) {
    std::string target;
    double t = NAN;
    if (bytes == (1u << 20)) target = "≤ 1.2 ms", t = 1.2;
    if (bytes == (16u << 20)) target = "≤ 20 ms", t = 20;
    lower(EchoKey(bytes) + ".p50", absl::StrCat("echo ", EchoName(bytes), " median RTT (ms)"),
          target, t);
    higher(EchoKey(bytes) + ".mbs", absl::StrCat("echo ", EchoName(bytes), " MB/s"));
    lower(EchoKey(bytes) + ".p99", absl::StrCat("echo ", EchoName(bytes), " p99 RTT (ms)"));
  }
  std::string multi = absl::StrCat(plan.multi_workers, " workers × ", plan.multi_pings, " pings");
  lower("multi.cold", multi + ": spawn all in parallel → all replies (ms)");
  lower("multi.close", multi + ": close all (ms)");
  lower("multi.warm", multi + ": warm workers, all in flight (ms)");
  for (int n : plan.pool_sizes) {
    higher(absl::StrCat("pool", n),
           absl::StrCat("pool scaling, ", n, " worker", n > 1 ? "s" : "", " (ours: SpawnPool; others: ", n, " host", n > 1 ? "s" : "",
                        ", 1 Spin in flight each): Spin calls/s"));
  }
  for (int n : plan.pool_sizes) {
    if (n == 1) continue;
    higher(absl::StrCat("pool", n, ".speedup"),
           absl::StrCat("pool scaling: speed-up ", n, " vs 1 worker(s)"));
  }
}

bool g_verbose = false;
void Progress(const char* fmt, ...) {
  if (!g_verbose) return;
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(stderr, fmt, ap);
  va_end(ap);
}

void RunStartup(System& sys, const Plan& plan, Results& r) {
  const bool floor = std::string(sys.name()) == "floor";
  const int iters = floor ? plan.floor_startup_iters : plan.startup_iters;
  std::vector<double> ready, first, close;
  for (int i = 0; i < plan.startup_warm + iters; ++i) {
    Clock::time_point t0 = Clock::now();
    std::unique_ptr<Conn> conn = sys.Start();
    Clock::time_point t1 = Clock::now();
    conn->Ping();
    Clock::time_point t2 = Clock::now();
    conn->Close();
    Clock::time_point t3 = Clock::now();
    if (i < plan.startup_warm) continue;
    ready.push_back(Ms(t1 - t0));
    first.push_back(Ms(t2 - t0));
    close.push_back(Ms(t3 - t2));
  }
  r.Record("startup.ready", sys.name(), Median(ready));
  r.Record("startup.first", sys.name(), Median(first));
  r.Record("startup.close", sys.name(), Median(close));
}

void RunLatency(System& sys, Conn& conn, const Plan& plan, Results& r) {
  const bool floor = std::string(sys.name()) == "floor";
  const int warm = floor ? plan.floor_lat_warm : plan.lat_warm;
  const int iters = floor ? plan.floor_lat_iters : plan.lat_iters;
  for (int i = 0; i < warm; ++i) conn.Ping();
  std::vector<double> us(iters);
  for (int i = 0; i < iters; ++i) {
    Clock::time_point t0 = Clock::now();
    conn.Ping();
    us[i] = Us(Clock::now() - t0);
  }
  r.Record("lat.min", sys.name(), Min(us));
  r.Record("lat.p50", sys.name(), Median(us));
  r.Record("lat.p99", sys.name(), Percentile(us, 99));
}

void Batch(Conn& conn, int n) {
  auto latch = std::make_shared<Latch>(n);
  conn.IssuePings(n, latch);
  conn.CollectPings();
  latch->Wait();
}

void RunThroughput(System& sys, Conn& conn, const Plan& plan, Results& r) {
  const bool floor = std::string(sys.name()) == "floor";
  const int warm = floor ? plan.floor_tput_warm : plan.tput_warm;
  const int batches = floor ? plan.floor_tput_batches : plan.tput_batches;
  for (int i = 0; i < warm; ++i) Batch(conn, plan.in_flight);
  std::vector<double> batch_ms(batches);
  const double host0 = SelfCpuUs(), worker0 = ProcessCpuUs(conn.pid());
  Clock::time_point t0 = Clock::now();
  for (int i = 0; i < batches; ++i) {
    Clock::time_point b0 = Clock::now();
    Batch(conn, plan.in_flight);
    batch_ms[i] = Ms(Clock::now() - b0);
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  const double host = SelfCpuUs() - host0, worker = ProcessCpuUs(conn.pid()) - worker0;
  const double calls = static_cast<double>(batches) * plan.in_flight;
  r.Record("tput.rate", sys.name(), calls / seconds);
  r.Record("tput.batch", sys.name(), Median(batch_ms));
  r.Record("cpu.total", sys.name(), (host + worker) / calls);
  r.Record("cpu.host", sys.name(), host / calls);
  r.Record("cpu.worker", sys.name(), worker / calls);
}

void RunEcho(System& sys, Conn& conn, const Plan& plan, Results& r) {
  const bool floor = std::string(sys.name()) == "floor";
  for (size_t k = 0; k < plan.echo_sizes.size(); ++k) {
    const size_t bytes = plan.echo_sizes[k];
    const int iters = floor ? plan.floor_echo_iters[k] : plan.echo_iters[k];
    conn.PrepareEcho(bytes);
    for (int i = 0; i < std::max(2, iters / 10); ++i) conn.Echo();
    std::vector<double> ms(iters);
    for (int i = 0; i < iters; ++i) {
      Clock::time_point t0 = Clock::now();
      conn.Echo();
      ms[i] = Ms(Clock::now() - t0);
    }
    const double median = Median(ms);
    r.Record(EchoKey(bytes) + ".p50", sys.name(), median);
    r.Record(EchoKey(bytes) + ".mbs", sys.name(), bytes / (median / 1e3) / 1e6);
    r.Record(EchoKey(bytes) + ".p99", sys.name(), Percentile(ms, 99));
  }
  conn.PrepareEcho(0);  // release the big buffers
}

std::vector<std::unique_ptr<Conn>> StartMany(System& sys, int n) {
  std::vector<std::unique_ptr<Conn>> conns(n);
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) threads.emplace_back([&, i] { conns[i] = sys.Start(); });
  for (std::thread& t : threads) t.join();
  return conns;
}

void CloseMany(std::vector<std::unique_ptr<Conn>>& conns) {
  std::vector<std::thread> threads;
  for (auto& c : conns) threads.emplace_back([&c] { c->Close(); });
  for (std::thread& t : threads) t.join();
  conns.clear();
}

void PingAll(std::vector<std::unique_ptr<Conn>>& conns, int pings) {
  auto latch = std::make_shared<Latch>(static_cast<int>(conns.size()) * pings);
  for (auto& c : conns) c->IssuePings(pings, latch);
  for (auto& c : conns) c->CollectPings();
  latch->Wait();
}

void RunMulti(System& sys, const Plan& plan, Results& r) {
  std::vector<double> cold, close, warm;
  for (int i = 0; i < plan.multi_spawn_iters; ++i) {
    Clock::time_point t0 = Clock::now();
    std::vector<std::unique_ptr<Conn>> conns = StartMany(sys, plan.multi_workers);
    PingAll(conns, plan.multi_pings);
    Clock::time_point t1 = Clock::now();
    CloseMany(conns);
    cold.push_back(Ms(t1 - t0));
    close.push_back(Ms(Clock::now() - t1));
  }
  std::vector<std::unique_ptr<Conn>> conns = StartMany(sys, plan.multi_workers);
  for (int i = 0; i < 3; ++i) PingAll(conns, plan.multi_pings);
  for (int i = 0; i < plan.multi_warm_iters; ++i) {
    Clock::time_point t0 = Clock::now();
    PingAll(conns, plan.multi_pings);
    warm.push_back(Ms(Clock::now() - t0));
  }
  CloseMany(conns);
  r.Record("multi.cold", sys.name(), Median(cold));
  r.Record("multi.close", sys.name(), Median(close));
  r.Record("multi.warm", sys.name(), Median(warm));
}

// Emulated pool: N hosts, one Spin call in flight per worker; a completion
// issues the next call on the same worker until `total` calls are issued.
double PoolRate(std::vector<std::unique_ptr<Conn>>& conns, int total, int64_t iterations) {
  struct State {
    std::atomic<int> issued{0};
    int total;
    int64_t iterations;
    std::shared_ptr<Latch> latch;
  };
  auto state = std::make_shared<State>();
  state->total = total;
  state->iterations = iterations;
  state->latch = std::make_shared<Latch>(total);
  // The recursion goes through a shared function object owned by the state
  // of every callback.
  auto next = std::make_shared<std::function<void(Conn*)>>();
  *next = [state, weak = std::weak_ptr<std::function<void(Conn*)>>(next)](Conn* c) {
    if (state->issued.fetch_add(1) >= state->total) return;
    auto self = weak.lock();
    c->SpinAsync(state->iterations, [state, self, c] {
      (*self)(c);                // issue the next call first ...
      state->latch->CountDown();  // ... then count this one
    });
  };
  Clock::time_point t0 = Clock::now();
  for (auto& c : conns) (*next)(c.get());
  state->latch->Wait();
  return total / std::chrono::duration<double>(Clock::now() - t0).count();
}

// A real pool: every call issued at once; the pool queues them and gives each
// free worker the next one.
double RealPoolRate(Conn& pool, int total, int64_t iterations) {
  auto latch = std::make_shared<Latch>(total);
  Clock::time_point t0 = Clock::now();
  for (int i = 0; i < total; ++i) pool.SpinAsync(iterations, [latch] { latch->CountDown(); });
  latch->Wait();
  return total / std::chrono::duration<double>(Clock::now() - t0).count();
}

void RunPool(System& sys, const Plan& plan, Results& r) {
  std::map<int, double> rate;
  for (int n : plan.pool_sizes) {
    if (std::unique_ptr<Conn> pool = sys.StartPool(n)) {
      RealPoolRate(*pool, n * 2, plan.spin_iterations);  // warm-up
      rate[n] = RealPoolRate(*pool, plan.pool_calls, plan.spin_iterations);
      r.Record(absl::StrCat("pool", n), sys.name(), rate[n]);
      pool->Close();
      continue;
    }
    std::vector<std::unique_ptr<Conn>> conns = StartMany(sys, n);
    if (!conns[0]->SupportsSpin()) {
      CloseMany(conns);
      return;
    }
    PoolRate(conns, n * 2, plan.spin_iterations);  // warm-up
    rate[n] = PoolRate(conns, plan.pool_calls, plan.spin_iterations);
    r.Record(absl::StrCat("pool", n), sys.name(), rate[n]);
    CloseMany(conns);
  }
  for (int n : plan.pool_sizes) {
    if (n != 1 && rate.count(1)) {
      r.Record(absl::StrCat("pool", n, ".speedup"), sys.name(), rate[n] / rate[1]);
    }
  }
}

// ---------------------------------------------------------------------------
// Machine description

std::string ReadFirstLine(const std::string& path, const std::string& prefix = "") {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (prefix.empty()) return line;
    if (line.rfind(prefix, 0) == 0) {
      size_t colon = line.find(':');
      return colon == std::string::npos ? line : line.substr(colon + 2);
    }
  }
  return "?";
}

std::string Cpuidle() {
  std::string driver = ReadFirstLine("/sys/devices/system/cpu/cpuidle/current_driver");
  std::string poll = ReadFirstLine("/sys/module/haltpoll/parameters/guest_halt_poll_ns");
  return poll == "?" ? driver : absl::StrCat(driver, ", guest_halt_poll_ns=", poll);
}

void PrintMachine(int argc, char** argv, const Plan& plan, int runs) {
  utsname u;
  ::uname(&u);
  char date[64];
  time_t now = ::time(nullptr);
  std::strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S UTC", std::gmtime(&now));
  std::string command = "bench";
  for (int i = 1; i < argc; ++i) command += std::string(" ") + argv[i];
  std::printf("# isolated-workers benchmark\n\n");
  std::printf("- date: %s\n", date);
  std::printf("- machine: %ld vCPU, %s; kernel %s %s; cpuidle %s\n",
              ::sysconf(_SC_NPROCESSORS_ONLN),
              ReadFirstLine("/proc/cpuinfo", "model name").c_str(), u.sysname, u.release,
              Cpuidle().c_str());
  std::printf("- load average at start: %s\n", ReadFirstLine("/proc/loadavg").c_str());
  const char* tunables = std::getenv("GLIBC_TUNABLES");
  if (std::getenv("IWBENCH_NO_DEADLOCK_DETECTION") != nullptr) {
    std::printf("- IWBENCH_NO_DEADLOCK_DETECTION set: absl Mutex deadlock detection off in "
                "all processes\n");
  }
  std::printf("- command: `%s`%s%s\n", command.c_str(),
              tunables ? "; GLIBC_TUNABLES=" : "", tunables ? tunables : "");
  std::printf("- runs: %d, interleaved (ours, raw gRPC, floor, repeat); value = median of the "
              "per-run statistics\n",
              runs);
  std::printf("- Spin: %lld iterations per call (%.2f ms in-process)\n\n",
              static_cast<long long>(plan.spin_iterations), [&] {
                volatile uint64_t sink = 0;
                SpinWork(plan.spin_iterations / 10);  // warm the core
                Clock::time_point t0 = Clock::now();
                sink = SpinWork(plan.spin_iterations);
                (void)sink;
                return Ms(Clock::now() - t0);
              }());
  std::fflush(stdout);
}

std::string BinaryDir() {
  char self[4096];
  ssize_t n = ::readlink("/proc/self/exe", self, sizeof(self) - 1);
  if (n <= 0) Die("readlink /proc/self/exe");
  std::string path(self, n);
  return path.substr(0, path.rfind('/') + 1);
}

int Main(int argc, char** argv) {
  Plan plan;
  int runs = 5;
  bool quick = false, spread = true, echo_sizes_set = false;
  std::set<std::string> only;
  std::vector<std::string> systems = {"ours", "ours_inline", "grpc", "floor"};
  const std::string dir = BinaryDir();
  std::string ours_worker = dir + "bench_worker";
  std::string grpc_server = dir + "grpc_baseline_server";
  std::string floor_server = dir + "uds_floor_server";
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    auto value = [&](const char* flag) -> const char* {
      size_t n = std::strlen(flag);
      return arg.compare(0, n, flag) == 0 ? argv[i] + n : nullptr;
    };
    if (arg == "--quick") {
      quick = true;
    } else if (arg == "--verbose") {
      g_verbose = true;
    } else if (arg == "--keep_grpc_initialized") {
      // Experiment: keep gRPC's global state (threads, executors) alive in
      // the bench process between workers, as a host with other long-lived
      // gRPC objects would.
      grpc_init();
    } else if (arg == "--no_call_stream") {
      // Experiment: ours with WorkerOptions::call_stream = false (every
      // call a unary RPC, as before the call stream).
      g_ours_call_stream = false;
    } else if (arg == "--no_spread") {
      spread = false;
    } else if (const char* v = value("--runs=")) {
      if (!absl::SimpleAtoi(v, &runs) || runs < 1) Die("bad --runs");
    } else if (const char* v = value("--only=")) {
      for (absl::string_view w : absl::StrSplit(v, ',')) only.insert(std::string(w));
    } else if (const char* v = value("--systems=")) {
      systems = absl::StrSplit(v, ',');
    } else if (const char* v = value("--ours_worker=")) {
      ours_worker = v;
    } else if (const char* v = value("--grpc_server=")) {
      grpc_server = v;
    } else if (const char* v = value("--floor_server=")) {
      floor_server = v;
    } else if (const char* v = value("--echo_sizes=")) {
      // e.g. --echo_sizes=1024,16777216 (keeps the default iteration counts)
      Plan defaults;
      std::vector<size_t> sizes;
      std::vector<int> iters, floor_iters;
      for (absl::string_view w : absl::StrSplit(v, ',')) {
        size_t bytes;
        if (!absl::SimpleAtoi(w, &bytes) || bytes == 0) Die("bad --echo_sizes");
        size_t k = 0;  // iterations of the nearest default size not larger
        for (size_t j = 0; j < defaults.echo_sizes.size(); ++j) {
          if (defaults.echo_sizes[j] <= bytes) k = j;
        }
        sizes.push_back(bytes);
        iters.push_back(defaults.echo_iters[k]);
        floor_iters.push_back(defaults.floor_echo_iters[k]);
      }
      plan.echo_sizes = sizes;
      plan.echo_iters = iters;
      plan.floor_echo_iters = floor_iters;
      echo_sizes_set = true;
    } else if (const char* v = value("--spin_iterations=")) {
      if (!absl::SimpleAtoi(v, &plan.spin_iterations)) Die("bad --spin_iterations");
    } else {
      std::fprintf(stderr,
                   "usage: bench [--runs=N] [--quick] [--only=startup,latency,throughput,"
                   "echo,multi,pool]\n"
                   "             [--systems=ours,ours_inline,grpc,floor] [--ours_worker=PATH] "
                   "[--grpc_server=PATH]\n"
                   "             [--floor_server=PATH] [--spin_iterations=N] [--verbose] "
                   "[--no_spread]\n"
                   "             [--keep_grpc_initialized] [--no_call_stream]\n"
                   "             [--echo_sizes=BYTES,...]\n");
      return 2;
    }
  }
  if (quick) {
    std::vector<size_t> sizes = plan.echo_sizes;
    plan.MakeQuick();
    if (echo_sizes_set) {
      plan.echo_sizes = sizes;
      plan.echo_iters.assign(sizes.size(), 10);
      plan.floor_echo_iters.assign(sizes.size(), 10);
    }
    runs = 1;
  }
  for (const std::string& w : only) {
    static const std::set<std::string> known = {"startup", "latency", "throughput",
                                                "echo",    "multi",   "pool"};
    if (!known.count(w)) Die("unknown workload " + w);
  }
  auto want = [&](const char* w) { return only.empty() || only.count(w) > 0; };

  // Profiling experiment (docs/benchmarks.md): inherited by the workers.
  if (std::getenv("IWBENCH_NO_DEADLOCK_DETECTION") != nullptr) {
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  }
  ::signal(SIGPIPE, SIG_IGN);
  char temp[] = "/tmp/iwbench.XXXXXX";
  if (::mkdtemp(temp) == nullptr) Die("mkdtemp");
  g_temp_dir = temp;

  std::vector<std::unique_ptr<System>> all;
  for (const std::string& s : systems) {
    if (s == "ours") all.push_back(std::make_unique<OursSystem>(ours_worker));
    else if (s == "ours_inline") all.push_back(std::make_unique<OursSystem>(ours_worker, true));
    else if (s == "grpc") all.push_back(std::make_unique<GrpcSystem>(grpc_server));
    else if (s == "floor") all.push_back(std::make_unique<FloorSystem>(floor_server));
    else Die("unknown system " + s);
  }

  PrintMachine(argc, argv, plan, runs);
  Results results;
  DefineMetrics(results, plan);
  Clock::time_point start = Clock::now();
  for (int run = 1; run <= runs; ++run) {
    for (auto& sys : all) {
      Progress("run %d/%d: %s ...\n", run, runs, sys->name());
      Clock::time_point t0 = Clock::now();
      // ours_inline differs from ours only in the Ping method's handler.
      const bool pings_only = std::string(sys->name()) == "ours_inline";
      if (want("startup") && !pings_only) RunStartup(*sys, plan, results);
      if (want("latency") || want("throughput") || (want("echo") && !pings_only)) {
        std::unique_ptr<Conn> conn = sys->Start();
        if (want("latency")) RunLatency(*sys, *conn, plan, results);
        if (want("throughput")) RunThroughput(*sys, *conn, plan, results);
        if (want("echo") && !pings_only) RunEcho(*sys, *conn, plan, results);
        Clock::time_point c0 = Clock::now();
        conn->Close();
        Progress("run %d/%d: %s: close after latency/throughput/echo took %.1f ms\n", run,
                 runs, sys->name(), Ms(Clock::now() - c0));
      }
      if (want("multi") && !pings_only) RunMulti(*sys, plan, results);
      if (want("pool") && !pings_only) RunPool(*sys, plan, results);
      Progress("run %d/%d: %s done in %.1f s\n", run, runs, sys->name(),
               Ms(Clock::now() - t0) / 1e3);
    }
  }
  std::printf("Cost ratios: time (or CPU) per operation of ours ÷ the other system; > 1 "
              "means ours is slower. For rates (calls/s, MB/s, speed-up) the inverse "
              "ratio is shown, so > 1 still means ours is worse.\n\n");
  results.Print(systems);
  if (spread && runs > 1) {
    std::printf("\nSpread across runs (per-run statistic, min–max):\n\n");
    results.PrintSpread(systems);
  }
  std::printf("\nTotal bench time: %.1f s; load average at end: %s\n",
              Ms(Clock::now() - start) / 1e3, ReadFirstLine("/proc/loadavg").c_str());
  if (g_close_errors.load() > 0) {
    std::printf("\n**%d Close() call(s) of ours returned an error** (see stderr).\n",
                g_close_errors.load());
  }
  ::rmdir(temp);
  return 0;
}

}  // namespace
}  // namespace iwbench

int main(int argc, char** argv) { return iwbench::Main(argc, argv); }
