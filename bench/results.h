// The results table: every workload defines its metrics (in the order of the
// table's rows) and records one value per run and system; Print() shows the
// median of the per-run values with ratios to the floor (and, on calls/s
// rows, to raw gRPC) and targets, PrintSpread() their min–max.
#ifndef IW_BENCH_RESULTS_H_
#define IW_BENCH_RESULTS_H_

#include <cmath>
#include <map>
#include <string>
#include <vector>

namespace iwbench {
namespace harness {

enum class Better { kLower, kHigher };

struct MetricDef {
  std::string key;
  std::string label;
  Better better;
  // Target from the issue (for ours); empty if none.
  std::string target_text;
  double target = NAN;
  // A calls/s row: Print() also shows every system's ratio to raw gRPC.
  bool vs_grpc = false;
};

class Results {
 public:
  void Define(MetricDef def);
  // Define() of a metric where lower (higher) is better.
  void DefineLower(std::string key, std::string label, std::string target_text = "",
                   double target = NAN);
  void DefineHigher(std::string key, std::string label, std::string target_text = "",
                    double target = NAN);
  // DefineHigher() of a calls/s metric (vs_grpc).
  void DefineCallRate(std::string key, std::string label, std::string target_text = "",
                      double target = NAN);
  // Dies if `key` is not defined.
  void Record(const std::string& key, const std::string& system, double value);

  // Markdown tables on stdout, one column per system; rows without values
  // are left out. Print() adds, for every system but the floor, a column
  // "<system> ÷ floor" (its value ÷ the floor's, every row) and, for every
  // system but gRPC and the floor, "<system> ÷ gRPC" (calls/s and messages/s rows only).
  // Both are plain ratios of the values: for times and CPU, how many times
  // the reference's cost; for rates, the fraction (or multiple) of its rate.
  void Print(const std::vector<std::string>& systems) const;
  void PrintSpread(const std::vector<std::string>& systems) const;

 private:
  std::vector<std::string> order_;
  std::map<std::string, MetricDef> defs_;
  std::map<std::string, std::map<std::string, std::vector<double>>> values_;
};

}  // namespace harness
}  // namespace iwbench

#endif  // IW_BENCH_RESULTS_H_
