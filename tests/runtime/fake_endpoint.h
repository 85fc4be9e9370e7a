// A fake WorkerEndpoint and the factory that makes them, for unit tests of
// the worker pool: no process, no socket, no sleep.
//
//   FakeWorkers workers;                       // outlives the pool
//   auto pool = WorkerPool::Start(kService, {}, {}, pool_options, workers.Factory());
//   pool->CallAsync(0, request, &response, {}, done);
//   REQUIRE(workers.WaitForCalls(1));          // the call reached a worker
//   workers.call(0)->Answer(absl::OkStatus()); // `done` runs on the fake's
//                                              // framework thread
//
// Calls wait until the test answers them (FakeCall::Answer), or are answered
// at once by a handler (FakeWorkers::AnswerWith). A blocking call waits on
// the caller's thread, as a real endpoint's does; asynchronous completions
// and death callbacks run on the fake's one framework thread, as they run
// on gRPC's. Every wait has a deadline.
#ifndef IW_TESTS_RUNTIME_FAKE_ENDPOINT_H_
#define IW_TESTS_RUNTIME_FAKE_ENDPOINT_H_

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "google/protobuf/message_lite.h"
#include "runtime/codegen_support/service_info.h"
#include "runtime/common/timeouts.h"
#include "runtime/host/endpoint.h"
#include "runtime/status_details.h"
#include "runtime/wire/call_failure.h"
#include "runtime/worker_crash.h"
#include "tests/testing/process_hygiene.h"

namespace iw::internal::testing {

// How long a test waits for something that should happen at once.
inline const absl::Duration kWait = absl::Seconds(10) * iw::testing::kSanitizerSlowdown;

// Polls `condition` until it holds (kWait at most), for a state that
// raises no event to wait on (e.g. PoolStats).
inline bool Eventually(const std::function<bool()>& condition) {
  const absl::Time give_up = absl::Now() + kWait;
  while (!condition()) {
    if (absl::Now() > give_up) return false;
    absl::SleepFor(absl::Milliseconds(1));
  }
  return true;
}

// Runs closures, in order, on one thread of its own: the fake's "framework
// thread".
class FakeFramework {
 public:
  FakeFramework() : thread_([this] { Loop(); }) {}
  std::thread::id thread_id() const { return thread_.get_id(); }
  ~FakeFramework() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    thread_.join();
  }

  void Post(std::function<void()> work) {
    absl::MutexLock lock(&mu_);
    work_.push_back(std::move(work));
  }

 private:
  void Loop() {
    while (true) {
      std::function<void()> next;
      {
        absl::MutexLock lock(&mu_);
        auto ready = [this]()
                         ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stop_ || !work_.empty(); };
        mu_.Await(absl::Condition(&ready));
        if (work_.empty()) return;  // stopping, and nothing left
        next = std::move(work_.front());
        work_.pop_front();
      }
      next();
    }
  }

  absl::Mutex mu_;
  std::deque<std::function<void()>> work_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// One call that reached a fake worker.
class FakeCall final : public PendingCall {
 public:
  FakeCall(FakeFramework* framework, std::string worker_id, int method_index, std::string request,
           const CallTiming& timing, google::protobuf::MessageLite* response,
           std::function<void(absl::Status)> done)
      : worker_id_(std::move(worker_id)),
        method_index_(method_index),
        request_(std::move(request)),
        deadline_(timing.deadline),
        thread_(std::this_thread::get_id()),
        async_(done != nullptr),
        response_(response),
        framework_(framework),
        done_(std::move(done)) {}

  const std::string& worker_id() const { return worker_id_; }
  int method_index() const { return method_index_; }
  // The serialized request.
  const std::string& request() const { return request_; }
  absl::Time deadline() const { return deadline_; }
  // The thread that made the call (for a blocking call: the caller's).
  std::thread::id thread() const { return thread_; }
  bool async() const { return async_; }
  google::protobuf::MessageLite* response() const { return response_; }

  // Ends the call with `status`: a blocking call returns it, an async one's
  // callback gets it on the framework thread. Only the first answer counts;
  // returns false for the others.
  bool Answer(absl::Status status) {
    std::function<void(absl::Status)> done;
    {
      absl::MutexLock lock(&mu_);
      if (answered_) return false;
      answered_ = true;
      status_ = status;
      done = std::move(done_);
    }
    if (done) {
      framework_->Post([done = std::move(done), status = std::move(status)] { done(status); });
    }
    return true;
  }
  bool answered() const {
    absl::MutexLock lock(&mu_);
    return answered_;
  }
  bool cancelled() const {
    absl::MutexLock lock(&mu_);
    return cancelled_;
  }

  // PendingCall (asynchronous calls): answers CANCELLED, as an endpoint
  // does.
  void Cancel() override {
    {
      absl::MutexLock lock(&mu_);
      cancelled_ = true;
    }
    Answer(absl::CancelledError("fake call cancelled by the host"));
  }

  // For the blocking call: waits for the answer (kWait at most).
  absl::Status Wait() {
    absl::MutexLock lock(&mu_);
    auto answered = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return answered_; };
    if (!mu_.AwaitWithTimeout(absl::Condition(&answered), kWait)) {
      return absl::InternalError("fake call never answered");
    }
    return status_;
  }

 private:
  const std::string worker_id_;
  const int method_index_;
  const std::string request_;
  const absl::Time deadline_;
  const std::thread::id thread_;
  const bool async_;
  google::protobuf::MessageLite* const response_;
  FakeFramework* const framework_;

  mutable absl::Mutex mu_;
  bool answered_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status status_ ABSL_GUARDED_BY(mu_);
  std::function<void(absl::Status)> done_ ABSL_GUARDED_BY(mu_);
};

// Counts the closes of every fake worker of one FakeWorkers.
struct FakeCloses {
  absl::Mutex mu;
  int count ABSL_GUARDED_BY(mu) = 0;
};

// The test's handle on one fake worker; it outlives the endpoint the pool
// owns (and destroys).
class FakeWorker : public std::enable_shared_from_this<FakeWorker> {
 public:
  FakeWorker(const codegen::ServiceInfo* service, FakeFramework* framework, FakeCloses* closes,
             std::string id)
      : service_(service), framework_(framework), closes_(closes), id_(std::move(id)) {}

  const std::string& id() const { return id_; }

  // Dies on its own: calls in flight fail with UNAVAILABLE ("<method>:
  // worker Fake#1 crashed: exit code 3", with an iw.WorkerCrash), then the
  // death callback runs on the framework thread.
  void Crash() {
    bool on_death;
    std::vector<std::shared_ptr<FakeCall>> calls;
    {
      absl::MutexLock lock(&mu_);
      if (crashed_ || closed_) return;
      crashed_ = true;
      on_death = on_death_ != nullptr;
      calls = calls_;
    }
    for (const auto& call : calls) call->Answer(Death(call->method_index()));
    if (on_death) PostCallback([](FakeWorker& w) { return w.on_death_; });
  }

  // The status of a call lost with this worker when it crashed.
  absl::Status Death(int method_index) const {
    // As a real endpoint reports it: the cause and the description as data.
    absl::Status status =
        CallFailed(absl::StatusCode::kUnavailable, FailureCause::kWorkerDied,
                   MethodDisplayName(*service_, method_index),
                   FailureDescription{absl::StrCat("worker ", id_, " crashed: exit code 3"), ""});
    WorkerCrash crash;
    crash.set_cause(WorkerCrash::EXITED);
    crash.set_exit_code(3);
    crash.set_worker_id(id_);
    AttachDetails(status, crash);
    return status;
  }

  // CallContext::RequestRecycle() in the worker.
  void RequestRecycle(const std::string& reason) {
    PostCallback([reason](FakeWorker& w) -> std::function<void()> {
      if (!w.on_recycle_) return nullptr;
      return [callback = w.on_recycle_, reason] { callback(reason); };
    });
  }

  bool crashed() const {
    absl::MutexLock lock(&mu_);
    return crashed_;
  }
  bool closed() const {
    absl::MutexLock lock(&mu_);
    return closed_;
  }
  // Waits until the pool closed it.
  bool WaitClosed(absl::Duration timeout = kWait) const {
    absl::MutexLock lock(&mu_);
    auto closed = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return closed_; };
    return mu_.AwaitWithTimeout(absl::Condition(&closed), timeout);
  }
  // When the pool closed it (InfiniteFuture if it did not).
  absl::Time closed_at() const {
    absl::MutexLock lock(&mu_);
    return closed_at_;
  }
  // Calls it received, ever.
  int calls() const {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(calls_.size());
  }

 private:
  friend class FakeEndpoint;
  friend class FakeWorkers;

  // Runs, on the framework thread, the callback `pick` returns (under mu_),
  // unless the endpoint is gone by then; ~FakeEndpoint waits for a running
  // one, as a real endpoint joins its threads.
  void PostCallback(std::function<std::function<void()>(FakeWorker&)> pick) {
    framework_->Post([self = shared_from_this(), pick = std::move(pick)] {
      std::function<void()> callback;
      {
        absl::MutexLock lock(&self->mu_);
        callback = pick(*self);
        if (!callback) return;
        ++self->callbacks_running_;
      }
      callback();
      absl::MutexLock lock(&self->mu_);
      --self->callbacks_running_;
    });
  }

  // Answers every unanswered call with `status`.
  void FailPending(const absl::Status& status) {
    std::vector<std::shared_ptr<FakeCall>> calls;
    {
      absl::MutexLock lock(&mu_);
      calls = calls_;
    }
    for (const auto& call : calls) call->Answer(status);
  }

  const codegen::ServiceInfo* const service_;
  FakeFramework* const framework_;
  FakeCloses* const closes_;
  const std::string id_;

  mutable absl::Mutex mu_;
  bool crashed_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Time closed_at_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  std::vector<std::shared_ptr<FakeCall>> calls_ ABSL_GUARDED_BY(mu_);
  int callbacks_running_ ABSL_GUARDED_BY(mu_) = 0;
  std::function<void()> on_death_ ABSL_GUARDED_BY(mu_);
  std::function<void(const std::string&)> on_recycle_ ABSL_GUARDED_BY(mu_);
};

// The factory of fake workers, and the record of every call they got.
class FakeWorkers {
 public:
  using Handler = std::function<absl::Status(FakeCall&)>;

  // Workers of `service`. Destroy the pool first: the framework thread runs
  // its callbacks.
  explicit FakeWorkers(const codegen::ServiceInfo& service) : service_(service) {}

  // The pool's factory: "Fake#1", "Fake#2", ...
  std::function<absl::StatusOr<std::unique_ptr<WorkerEndpoint>>()> Factory();

  // Calls are answered at once by `handler` (on the caller's thread for a
  // blocking call, on the framework thread for an async one) instead of
  // waiting for FakeCall::Answer.
  void AnswerWith(Handler handler) {
    absl::MutexLock lock(&mu_);
    handler_ = std::move(handler);
  }
  // Starts fail with `status` while it is not OK.
  void FailStarts(absl::Status status) {
    absl::MutexLock lock(&mu_);
    start_error_ = std::move(status);
  }

  // While held, a start (once counted by starts()) waits until the hold is
  // lifted, or kWait passes, before it returns: starts that run in parallel
  // are then all under way at once.
  void HoldStarts(bool hold) {
    absl::MutexLock lock(&mu_);
    hold_starts_ = hold;
  }

  // Waits until `n` starts were attempted (failed ones included).
  bool WaitForStarts(int n, absl::Duration timeout = kWait) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return static_cast<int>(start_times_.size()) >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
  }
  // Waits until the pool closed `n` workers, ever.
  bool WaitForCloses(int n, absl::Duration timeout = kWait) {
    absl::MutexLock lock(&closes_.mu);
    auto reached = [this, n]()
                       ABSL_EXCLUSIVE_LOCKS_REQUIRED(closes_.mu) { return closes_.count >= n; };
    return closes_.mu.AwaitWithTimeout(absl::Condition(&reached), timeout);
  }
  // Waits until `n` calls reached workers, ever.
  bool WaitForCalls(int n, absl::Duration timeout = kWait) {
    absl::MutexLock lock(&mu_);
    auto reached = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return static_cast<int>(calls_.size()) >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&reached), timeout);
  }

  int starts() const {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(start_times_.size());
  }
  absl::Time start_time(int i) const {
    absl::MutexLock lock(&mu_);
    return start_times_.at(i);
  }
  int calls() const {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(calls_.size());
  }
  // The i-th worker started (0-based; failed starts have none).
  std::shared_ptr<FakeWorker> worker(int i) const {
    absl::MutexLock lock(&mu_);
    return workers_.at(i);
  }
  int workers() const {
    absl::MutexLock lock(&mu_);
    return static_cast<int>(workers_.size());
  }
  // The i-th call received (0-based), on any worker.
  std::shared_ptr<FakeCall> call(int i) const {
    absl::MutexLock lock(&mu_);
    return calls_.at(i);
  }

 private:
  friend class FakeEndpoint;

  // A call reached `worker`: recorded, and answered at once if a handler is
  // set.
  void Received(FakeWorker& worker, const std::shared_ptr<FakeCall>& call) {
    Handler handler;
    {
      absl::MutexLock lock(&worker.mu_);
      if (worker.crashed_ || worker.closed_) {
        // Too late: it died or closed while the call was on its way.
        call->Answer(worker.crashed_ ? worker.Death(call->method_index())
                                     : absl::UnavailableError("worker closed"));
        return;
      }
      worker.calls_.push_back(call);
    }
    {
      absl::MutexLock lock(&mu_);
      calls_.push_back(call);
      handler = handler_;
    }
    if (handler) {
      if (call->async()) {
        framework_.Post([handler, call] { call->Answer(handler(*call)); });
      } else {
        call->Answer(handler(*call));
      }
    }
  }

  const codegen::ServiceInfo& service_;
  // Destroyed after every worker handle and call.
  FakeFramework framework_;
  FakeCloses closes_;
  mutable absl::Mutex mu_;
  Handler handler_ ABSL_GUARDED_BY(mu_);
  absl::Status start_error_ ABSL_GUARDED_BY(mu_);
  bool hold_starts_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<absl::Time> start_times_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<FakeWorker>> workers_ ABSL_GUARDED_BY(mu_);
  std::vector<std::shared_ptr<FakeCall>> calls_ ABSL_GUARDED_BY(mu_);
};

// What the pool owns: a WorkerEndpoint over a FakeWorker.
class FakeEndpoint final : public WorkerEndpoint {
 public:
  FakeEndpoint(FakeWorkers* workers, std::shared_ptr<FakeWorker> worker)
      : workers_(workers), worker_(std::move(worker)) {}
  ~FakeEndpoint() override { DetachCallbacks(); }

  const std::string& id() const override { return worker_->id(); }
  int pid() const override { return 0; }
  bool crashed() const override { return worker_->crashed(); }
  FailureDescription DescribeDeath() override {
    return {absl::StrCat("worker ", worker_->id(), " crashed: exit code 3"), ""};
  }
  std::optional<WorkerCrash> CrashDetails() override {
    if (!worker_->crashed()) return std::nullopt;
    return WorkerCrashOf(worker_->Death(0));
  }

  absl::Status Call(int method_index, const google::protobuf::MessageLite& request,
                    google::protobuf::MessageLite* response, const CallTiming& timing) override {
    auto call = std::make_shared<FakeCall>(&workers_->framework_, worker_->id(), method_index,
                                           request.SerializeAsString(), timing, response, nullptr);
    workers_->Received(*worker_, call);
    return call->Wait();
  }

  std::shared_ptr<PendingCall> CallAsync(int method_index, std::string request,
                                         google::protobuf::MessageLite* response,
                                         const CallTiming& timing,
                                         std::function<void(absl::Status)> done) override {
    auto call = std::make_shared<FakeCall>(&workers_->framework_, worker_->id(), method_index,
                                           std::move(request), timing, response, std::move(done));
    workers_->Received(*worker_, call);
    return call;
  }

  absl::Status Close(const CloseOptions& /*options*/) override {
    {
      absl::MutexLock lock(&worker_->mu_);
      if (worker_->closed_) return absl::OkStatus();
      worker_->closed_ = true;
      worker_->closed_at_ = absl::Now();
    }
    {
      absl::MutexLock lock(&worker_->closes_->mu);
      ++worker_->closes_->count;
    }
    worker_->FailPending(absl::UnavailableError(absl::StrCat("worker ", id(), " closed")));
    DetachCallbacks();
    return absl::OkStatus();
  }
  void Kill(const std::string& reason) override {
    worker_->FailPending(absl::UnavailableError(reason));
  }
  void SetDeathCallback(std::function<void()> callback) override {
    absl::MutexLock lock(&worker_->mu_);
    worker_->on_death_ = std::move(callback);
  }
  void SetRecycleCallback(std::function<void(const std::string&)> callback) override {
    absl::MutexLock lock(&worker_->mu_);
    worker_->on_recycle_ = std::move(callback);
  }

 private:
  // No callback runs once this returns (nor still runs: a real endpoint
  // joins its threads when it closes). On the framework thread itself none
  // can be running.
  void DetachCallbacks() {
    absl::MutexLock lock(&worker_->mu_);
    worker_->on_death_ = nullptr;
    worker_->on_recycle_ = nullptr;
    if (std::this_thread::get_id() != worker_->framework_->thread_id()) {
      FakeWorker* worker = worker_.get();
      auto idle = [worker]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(worker->mu_) {
        return worker->callbacks_running_ == 0;
      };
      worker_->mu_.Await(absl::Condition(&idle));
    }
  }

  FakeWorkers* const workers_;
  const std::shared_ptr<FakeWorker> worker_;
};

inline std::function<absl::StatusOr<std::unique_ptr<WorkerEndpoint>>()> FakeWorkers::Factory() {
  return [this]() -> absl::StatusOr<std::unique_ptr<WorkerEndpoint>> {
    std::shared_ptr<FakeWorker> worker;
    {
      absl::MutexLock lock(&mu_);
      start_times_.push_back(absl::Now());
      auto released = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return !hold_starts_; };
      mu_.AwaitWithTimeout(absl::Condition(&released), kWait);
      if (!start_error_.ok()) return start_error_;
      worker = std::make_shared<FakeWorker>(&service_, &framework_, &closes_,
                                            absl::StrCat("Fake#", workers_.size() + 1));
      workers_.push_back(worker);
    }
    return std::make_unique<FakeEndpoint>(this, std::move(worker));
  };
}

}  // namespace iw::internal::testing

#endif  // IW_TESTS_RUNTIME_FAKE_ENDPOINT_H_
