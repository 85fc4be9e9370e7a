// FOR INTERNAL USE. How many calls one worker runs at once: the worker sizes
// its handler threads by it, a pool of several workers its per-worker limit.
#ifndef IW_RUNTIME_COMMON_HANDLER_CONCURRENCY_H_
#define IW_RUNTIME_COMMON_HANDLER_CONCURRENCY_H_

#include "runtime/codegen_support/service_info.h"

namespace iw::internal {

// (iw.service).max_concurrent_calls, or max(4, number of CPUs).
int HandlerConcurrency(const codegen::ServiceInfo& service);

}  // namespace iw::internal

#endif  // IW_RUNTIME_COMMON_HANDLER_CONCURRENCY_H_
