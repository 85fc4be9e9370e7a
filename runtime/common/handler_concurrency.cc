#include "runtime/common/handler_concurrency.h"

#include <algorithm>
#include <thread>

namespace iw::internal {

int HandlerConcurrency(const codegen::ServiceInfo& service) {
  if (service.max_concurrent_calls > 0) return service.max_concurrent_calls;
  return std::max(4, static_cast<int>(std::thread::hardware_concurrency()));
}

}  // namespace iw::internal
