// CPU-bound work shared by both benchmark workers: a dependent xorshift
// chain the compiler cannot vectorize or fold.
#ifndef IW_BENCH_SPIN_H_
#define IW_BENCH_SPIN_H_

#include <cstdint>

namespace iwbench {

inline uint64_t SpinWork(int64_t iterations) {
  uint64_t x = 0x9E3779B97F4A7C15ull;
  for (int64_t i = 0; i < iterations; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    x += static_cast<uint64_t>(i);
  }
  return x;
}

}  // namespace iwbench

#endif  // IW_BENCH_SPIN_H_
