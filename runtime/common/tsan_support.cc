// FOR --config=tsan BUILDS ONLY (compiles to nothing otherwise).
//
// 1. Makes Abseil's synchronisation visible to ThreadSanitizer. Debian's
// libabsl_synchronization is not built with -fsanitize=thread, so TSan never
// sees absl::Mutex / CondVar / Notification create happens-before edges and
// reports every access guarded by them (ours and gRPC's) as a data race.
//
// We interpose the exported entry points (the executable's definitions win
// over the shared library's in symbol lookup, also for calls made from
// libgrpc and from inside libabsl through the PLT), forward to the real
// functions found with dlsym(RTLD_NEXT), and tell TSan about the ordering:
// __tsan_release(mutex) before every unlock, __tsan_acquire(mutex) after
// every lock. That is exactly the happens-before a mutex provides.
//
// The symbol names are Abseil's mangled names for the 20220623 ABI in its
// Debian inline namespace `debian3`; a different Abseil build needs them
// updated (`nm -D libabsl_synchronization.so`). A name that is not found is a
// fatal error at first use, never a silent no-op.
//
// This object is pulled out of the runtime archive by the references to
// absl::Mutex::Lock etc. of the runtime's own objects (every host, worker and
// test using the runtime has some), so it also carries the suppressions
// below: an object of their own would never be pulled in (libtsan's weak
// default already satisfies __tsan_default_suppressions). .bazelrc's tsan
// config links statically (--dynamic_mode=off): both hooks only work when
// defined in the executable itself.

#if defined(__SANITIZE_THREAD__)

#include <dlfcn.h>

#include <cstdio>
#include <cstdlib>

#include "absl/time/time.h"

extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);

namespace {

void* RealOrDie(const char* name) {
  void* real = ::dlsym(RTLD_NEXT, name);
  if (real == nullptr) {
    std::fprintf(stderr, "tsan_absl_sync: %s not found: %s\n", name, ::dlerror());
    std::abort();
  }
  return real;
}

}  // namespace

// Defines `ret NAME(args)` with the assembler name SYMBOL that forwards to
// the real SYMBOL; BEFORE and AFTER are statements run around the call.
#define IW_TSAN_WRAP(ret, name, symbol, params, args, before, after) \
  extern "C" ret name params __asm__(symbol);                        \
  extern "C" ret name params {                                       \
    using Fn = ret(*) params;                                        \
    static Fn real = reinterpret_cast<Fn>(RealOrDie(symbol));        \
    before;                                                          \
    auto result = real args;                                         \
    after;                                                           \
    return result;                                                   \
  }
#define IW_TSAN_WRAP_VOID(name, symbol, params, args, before, after) \
  extern "C" void name params __asm__(symbol);                       \
  extern "C" void name params {                                      \
    using Fn = void(*) params;                                       \
    static Fn real = reinterpret_cast<Fn>(RealOrDie(symbol));        \
    before;                                                          \
    real args;                                                       \
    after;                                                           \
  }

#define IW_ABSL "_ZN4absl7debian3"
#define IW_ABSL_CONST "_ZNK4absl7debian3"

using Duration = absl::Duration;
using Time = absl::Time;

// A waiter's absl::Condition is evaluated by whichever thread unlocks the
// mutex, inside Unlock(), i.e. after that thread's __tsan_release(mu) above:
// the condition's reads (often of the waiter's own stack) would look
// unordered with what the waiter does next. So the evaluation releases the
// Condition object, and the waiter acquires it when its wait returns.
void AcquireAfterWait(void* mu, const void* cond) {
  __tsan_acquire(mu);
  __tsan_acquire(const_cast<void*>(cond));
}

// absl::Mutex
IW_TSAN_WRAP_VOID(IwMutexLock, IW_ABSL "5Mutex4LockEv", (void* mu), (mu), (void)0,
                  __tsan_acquire(mu))
IW_TSAN_WRAP_VOID(IwMutexUnlock, IW_ABSL "5Mutex6UnlockEv", (void* mu), (mu), __tsan_release(mu),
                  (void)0)
IW_TSAN_WRAP_VOID(IwMutexReaderLock, IW_ABSL "5Mutex10ReaderLockEv", (void* mu), (mu), (void)0,
                  __tsan_acquire(mu))
IW_TSAN_WRAP_VOID(IwMutexReaderUnlock, IW_ABSL "5Mutex12ReaderUnlockEv", (void* mu), (mu),
                  __tsan_release(mu), (void)0)
IW_TSAN_WRAP(bool, IwMutexTryLock, IW_ABSL "5Mutex7TryLockEv", (void* mu), (mu), (void)0,
             if (result) __tsan_acquire(mu))
IW_TSAN_WRAP(bool, IwMutexReaderTryLock, IW_ABSL "5Mutex13ReaderTryLockEv", (void* mu), (mu),
             (void)0, if (result) __tsan_acquire(mu))
IW_TSAN_WRAP_VOID(IwMutexLockWhen, IW_ABSL "5Mutex8LockWhenERKNS0_9ConditionE",
                  (void* mu, const void* cond), (mu, cond), (void)0, AcquireAfterWait(mu, cond))
IW_TSAN_WRAP_VOID(IwMutexReaderLockWhen, IW_ABSL "5Mutex14ReaderLockWhenERKNS0_9ConditionE",
                  (void* mu, const void* cond), (mu, cond), (void)0, AcquireAfterWait(mu, cond))
IW_TSAN_WRAP(bool, IwMutexLockWhenWithTimeout,
             IW_ABSL "5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE",
             (void* mu, const void* cond, Duration d), (mu, cond, d), (void)0,
             AcquireAfterWait(mu, cond))
IW_TSAN_WRAP(bool, IwMutexLockWhenWithDeadline,
             IW_ABSL "5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE",
             (void* mu, const void* cond, Time t), (mu, cond, t), (void)0,
             AcquireAfterWait(mu, cond))
IW_TSAN_WRAP(bool, IwMutexReaderLockWhenWithTimeout,
             IW_ABSL "5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE",
             (void* mu, const void* cond, Duration d), (mu, cond, d), (void)0,
             AcquireAfterWait(mu, cond))
IW_TSAN_WRAP(bool, IwMutexReaderLockWhenWithDeadline,
             IW_ABSL "5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE",
             (void* mu, const void* cond, Time t), (mu, cond, t), (void)0,
             AcquireAfterWait(mu, cond))
// Await releases the mutex while it waits and holds it again on return.
IW_TSAN_WRAP_VOID(IwMutexAwait, IW_ABSL "5Mutex5AwaitERKNS0_9ConditionE",
                  (void* mu, const void* cond), (mu, cond), __tsan_release(mu),
                  AcquireAfterWait(mu, cond))
IW_TSAN_WRAP(bool, IwMutexAwaitWithTimeout,
             IW_ABSL "5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE",
             (void* mu, const void* cond, Duration d), (mu, cond, d), __tsan_release(mu),
             AcquireAfterWait(mu, cond))
IW_TSAN_WRAP(bool, IwMutexAwaitWithDeadline,
             IW_ABSL "5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE",
             (void* mu, const void* cond, Time t), (mu, cond, t), __tsan_release(mu),
             AcquireAfterWait(mu, cond))

IW_TSAN_WRAP(bool, IwConditionEval, IW_ABSL_CONST "9Condition4EvalEv", (const void* cond), (cond),
             __tsan_acquire(const_cast<void*>(cond)), __tsan_release(const_cast<void*>(cond)))

// absl::CondVar: Wait* release `mu` while waiting and hold it on return.
IW_TSAN_WRAP_VOID(IwCondVarWait, IW_ABSL "7CondVar4WaitEPNS0_5MutexE", (void* cv, void* mu),
                  (cv, mu), __tsan_release(mu), __tsan_acquire(mu))
IW_TSAN_WRAP(bool, IwCondVarWaitWithTimeout,
             IW_ABSL "7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE",
             (void* cv, void* mu, Duration d), (cv, mu, d), __tsan_release(mu), __tsan_acquire(mu))
IW_TSAN_WRAP(bool, IwCondVarWaitWithDeadline,
             IW_ABSL "7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE",
             (void* cv, void* mu, Time t), (cv, mu, t), __tsan_release(mu), __tsan_acquire(mu))

// absl::Notification: Notify() happens before a waiter returns.
IW_TSAN_WRAP_VOID(IwNotificationNotify, IW_ABSL "12Notification6NotifyEv", (void* n), (n),
                  __tsan_release(n), (void)0)
IW_TSAN_WRAP_VOID(IwNotificationWait, IW_ABSL_CONST "12Notification19WaitForNotificationEv",
                  (const void* n), (n), (void)0, __tsan_acquire(const_cast<void*>(n)))
IW_TSAN_WRAP(bool, IwNotificationWaitWithTimeout,
             IW_ABSL_CONST "12Notification30WaitForNotificationWithTimeoutENS0_8DurationE",
             (const void* n, Duration d), (n, d), (void)0,
             if (result) __tsan_acquire(const_cast<void*>(n)))
IW_TSAN_WRAP(bool, IwNotificationWaitWithDeadline,
             IW_ABSL_CONST "12Notification31WaitForNotificationWithDeadlineENS0_4TimeE",
             (const void* n, Time t), (n, t), (void)0,
             if (result) __tsan_acquire(const_cast<void*>(n)))

// Suppressions, read by TSan at start-up through the
// __tsan_default_suppressions hook. Compiled in rather than passed as
// TSAN_OPTIONS=suppressions=FILE so that worker processes spawned by tests
// get them too, whatever their sandbox and working directory.
//
// Only frames inside the uninstrumented system libraries may be listed:
// Debian's Abseil and gRPC are not built with -fsanitize=thread, so TSan does
// not see their internal synchronisation and reports races that are none:
// - absl::Mutex::UnlockSlow evaluates a waiter's absl::Condition (which lives
//   on the waiter's stack) from the unlocking thread;
// - absl's deadlock detector (GraphCycles) copies its tables under its own
//   lock;
// - absl::Status and absl::Cord (its btree nodes too, in
//   libabsl_cord_internal.so) share their data through atomic refcounts
//   (gRPC and its upb parser pass them between threads); Status's inline
//   Ref()/Unref() pair with UnrefNonInlined() inside libabsl_status.so, so
//   their ordering is half invisible;
// - gRPC's epoll poller hands epoll events between threads, and gRPC calls a
//   reactor's OnDone()/OnReadDone() on its own threads after our StartWrite/
//   Finish, ordered by gRPC core's (invisible) synchronisation;
// - gRPC's header-only CallOpSendMessage serializes a streamed message inside
//   StartWrite(); the next message is only prepared after OnWriteDone(),
//   which gRPC core orders after that (invisibly) — the call stream's
//   writers (call_stream.cc, worker_call_stream.cc) rely on exactly that;
// - grpc::SerializationTraits writes a message into a ByteBuffer's slices
//   and reads one out of them; the slices pass between threads only inside
//   gRPC core (with the in-process transport, the very same memory).
// absl::Mutex, CondVar and Notification are made visible instead (above),
// so races on data *we* guard with them are still reported.
// - OpenSSL (libssl), which only gRPC's TLS transport calls: a handshake's
//   or record's buffers pass between gRPC's threads inside gRPC core.
// - absl's random pool (libabsl_random_internal_pool_urbg.so) seeds each
//   thread's absl::InsecureBitGen (NewRequestId) from shared buffers under
//   its own spinlock; two new threads seeding at once (async streams each
//   start one) look like a race.
// A report whose stacks have no frame of these libraries is a real race in
// our code: never add our own functions here.

extern "C" const char* __tsan_default_suppressions() {
  return "race:libabsl_synchronization.so\n"
         "race:libabsl_graphcycles_internal.so\n"
         "race:libabsl_status.so\n"
         "race:libabsl_cord.so\n"
         "race:libabsl_cord_internal.so\n"
         "race:libgrpc.so\n"
         "race:libgrpc++.so\n"
         "race:libgpr.so\n"
         "race:libupb.so\n"
         "race:libssl.so\n"
         "race:libabsl_random_internal_pool_urbg.so\n"
         "race:absl::*Mutex::UnlockSlow\n"
         "race:absl::*Status::Ref\n"
         "race:absl::*Status::Unref\n"
         "race:absl::*synchronization_internal::GraphCycles\n"
         "race:grpc_event_engine::posix_engine::Epoll1Poller\n"
         "race:grpc::internal::CallOpSendMessage\n"
         "race:grpc::SerializationTraits\n";
}

#endif  // defined(__SANITIZE_THREAD__)
