#include "runtime/testing/fault_injector.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/strings/match.h"
#include "absl/synchronization/notification.h"

namespace iw::testing {

namespace {

// Bound on waiting for the host to take note of a simulated death.
constexpr absl::Duration kReportTimeout = absl::Seconds(10);

}  // namespace

Fault Fault::Fail(absl::Status status) {
  CallFault spec;
  spec.outcome = CallFault::Outcome::kFail;
  spec.status = std::move(status);
  return Fault(std::move(spec));
}

Fault Fault::Delay(absl::Duration delay) {
  CallFault spec;
  spec.delay = delay;
  return Fault(std::move(spec));
}

Fault Fault::Crash(int signal) {
  CallFault spec;
  spec.outcome = CallFault::Outcome::kCrash;
  spec.signal = signal;
  return Fault(std::move(spec));
}

Fault Fault::Exit(int exit_code) {
  CallFault spec;
  spec.outcome = CallFault::Outcome::kCrash;
  spec.exit_code = exit_code;
  return Fault(std::move(spec));
}

Fault Fault::DropConnection() {
  CallFault spec;
  spec.outcome = CallFault::Outcome::kDropConnection;
  return Fault(std::move(spec));
}

Fault Fault::After(absl::Duration delay) const {
  CallFault spec = spec_;
  spec.delay = delay;
  return Fault(std::move(spec));
}

FaultInjector::~FaultInjector() = default;

void FaultInjector::InjectNext(Fault fault, int count) { InjectNext("", std::move(fault), count); }

void FaultInjector::InjectNext(absl::string_view method, Fault fault, int count) {
  if (count <= 0) return;
  absl::MutexLock lock(&mu_);
  rules_.push_back(Rule{std::string(method), fault.spec(), count});
}

void FaultInjector::InjectAll(absl::string_view method, Fault fault) {
  absl::MutexLock lock(&mu_);
  rules_.push_back(Rule{std::string(method), fault.spec(), -1});
}

void FaultInjector::Clear() {
  absl::MutexLock lock(&mu_);
  rules_.clear();
}

// The workers never call back into the injector from these (their effects
// run on their own threads), so holding mu_ keeps a closing worker from
// going away under us: Detach() waits for it.
void FaultInjector::KillWorkers(int signal, int exit_code) {
  std::vector<std::shared_ptr<absl::Notification>> reported;
  {
    absl::MutexLock lock(&mu_);
    for (InProcessWorker* worker : workers_) {
      auto done = std::make_shared<absl::Notification>();
      worker->SimulateDeath(signal, exit_code, [done] { done->Notify(); });
      reported.push_back(std::move(done));
    }
  }
  // Outside the lock: the death's effects (async callbacks) may call us.
  for (const auto& done : reported) {
    done->WaitForNotificationWithTimeout(kReportTimeout);
  }
}

void FaultInjector::CrashNow(int signal) { KillWorkers(signal, 0); }

void FaultInjector::ExitNow(int exit_code) { KillWorkers(0, exit_code); }

void FaultInjector::DropConnectionNow() {
  absl::MutexLock lock(&mu_);
  for (InProcessWorker* worker : workers_) worker->DropConnection();
}

int64_t FaultInjector::calls_seen() const {
  absl::MutexLock lock(&mu_);
  return calls_seen_;
}

int64_t FaultInjector::faults_injected() const {
  absl::MutexLock lock(&mu_);
  return faults_injected_;
}

int FaultInjector::workers() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(workers_.size());
}

bool FaultInjector::WaitForWorkers(int count, absl::Duration timeout) const {
  absl::MutexLock lock(&mu_);
  auto enough = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return static_cast<int>(workers_.size()) >= count;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

void FaultInjector::Attach(InProcessWorker* worker) {
  absl::MutexLock lock(&mu_);
  workers_.push_back(worker);
}

void FaultInjector::Detach(InProcessWorker* worker) {
  absl::MutexLock lock(&mu_);
  workers_.erase(std::remove(workers_.begin(), workers_.end(), worker), workers_.end());
}

CallFault FaultInjector::BeforeCall(InProcessWorker* /*worker*/, int /*method_index*/,
                                    const std::string& method) {
  absl::string_view path = method;
  absl::string_view simple = path.substr(path.rfind('/') + 1);
  absl::MutexLock lock(&mu_);
  ++calls_seen_;
  for (auto it = rules_.begin(); it != rules_.end(); ++it) {
    if (!it->method.empty() && it->method != simple && it->method != path) continue;
    CallFault fault = it->fault;
    if (it->remaining > 0 && --it->remaining == 0) rules_.erase(it);
    ++faults_injected_;
    return fault;
  }
  return CallFault();
}

}  // namespace iw::testing
