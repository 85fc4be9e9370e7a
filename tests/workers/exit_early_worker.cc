// A "worker" that exits with code 3 before it ever reports ready.
#include <cstdio>

int main() {
  std::fprintf(stderr, "exit_early_worker: giving up before ready\n");
  return 3;
}
