// A "worker" that never reports ready (and never exits on its own).
#include <unistd.h>

int main() {
  while (true) ::pause();
}
