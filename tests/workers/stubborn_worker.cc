// A "worker" that reports ready over the control channel but then ignores
// the host's shutdown request and SIGTERM: only SIGKILL stops it. For
// testing Close()'s escalation.
#include <signal.h>
#include <unistd.h>

#include <cstdlib>

int main() {
  ::signal(SIGTERM, SIG_IGN);
  const char* control = std::getenv("IW_CONTROL_FD");
  if (control == nullptr) return 2;
  char ready = 'R';
  if (::write(std::atoi(control), &ready, 1) != 1) return 1;
  while (true) ::pause();
}
