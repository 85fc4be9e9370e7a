// The work of the hashpool example, shared by the worker (which runs it for
// the pool) and the host (which runs it inline, to compare).
#ifndef EXAMPLES_HASHPOOL_ANALYZE_H_
#define EXAMPLES_HASHPOOL_ANALYZE_H_

#include <cstdint>
#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace hashpool {

// The first bytes of a file that the (simulated) native decoder below cannot
// survive.
inline constexpr absl::string_view kPoisonMagic = "IWPOISON";

struct Analysis {
  std::string sha256;  // lower-case hex
  int64_t size = 0;
  int64_t compressed_size = 0;  // zlib, level 1
};

// Reads the file at `path` and returns its SHA-256 and compressed size.
// `cancelled` is polled between chunks; when it returns true the work stops
// with CANCELLED. `progress` runs after each chunk with the bytes done so
// far.
//
// WARNING: like much native parsing code in the wild, this crashes the whole
// process (abort()) on a file that starts with kPoisonMagic. That is the
// point of the example: run it in a worker process.
absl::StatusOr<Analysis> AnalyzeFile(
    const std::string& path, const std::function<bool()>& cancelled = nullptr,
    const std::function<void(int64_t bytes_done)>& progress = nullptr);

}  // namespace hashpool

#endif  // EXAMPLES_HASHPOOL_ANALYZE_H_
