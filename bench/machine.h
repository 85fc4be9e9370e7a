// The header of the report: the machine, the load, the command line.
#ifndef IW_BENCH_MACHINE_H_
#define IW_BENCH_MACHINE_H_

#include <string>
#include <vector>

#include "bench/plan.h"

namespace iwbench {
namespace harness {

// The first line of `path`; with `prefix`, the value ("key: value") of the
// first line starting with it. "?" if there is none.
std::string ReadFirstLine(const std::string& path, const std::string& prefix = "");

// Prints the date, the machine (vCPUs, CPU model, kernel, cpuidle driver),
// the load average, the command and environment that change the results,
// the number of runs and the systems' order in each, the throughput levels
// and the time of one Spin call in this process.
void PrintMachine(int argc, char** argv, const Plan& plan, int runs,
                  const std::vector<std::string>& systems);

}  // namespace harness
}  // namespace iwbench

#endif  // IW_BENCH_MACHINE_H_
