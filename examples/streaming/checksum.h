// The checksum of the streaming example's uploads, computed by the worker
// (as chunks arrive) and by the host (to check the worker's answer).
#ifndef EXAMPLES_STREAMING_CHECKSUM_H_
#define EXAMPLES_STREAMING_CHECKSUM_H_

#include <cstdint>

#include "absl/strings/string_view.h"

namespace streaming {

inline constexpr uint64_t kFnv1aStart = 14695981039346656037ull;

// FNV-1a, 64-bit, continued from `hash` over `data`: chunk by chunk gives
// the same result as all at once.
inline uint64_t Fnv1a(uint64_t hash, absl::string_view data) {
  for (unsigned char c : data) {
    hash ^= c;
    hash *= 1099511628211ull;
  }
  return hash;
}

}  // namespace streaming

#endif  // EXAMPLES_STREAMING_CHECKSUM_H_
