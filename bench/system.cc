#include "bench/system.h"

#include <thread>

namespace iwbench {
namespace harness {

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

}  // namespace harness
}  // namespace iwbench
