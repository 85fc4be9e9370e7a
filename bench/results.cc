#include "bench/results.h"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "bench/harness.h"

namespace iwbench {
namespace harness {
namespace {

std::string Fmt(double v) {
  if (std::isnan(v)) return "–";
  double a = std::fabs(v);
  if (a >= 10000) {
    std::string digits = absl::StrCat(static_cast<int64_t>(std::llround(v)));
    std::string out;
    int n = static_cast<int>(digits.size());
    for (int i = 0; i < n; ++i) {
      out += digits[i];
      if ((n - i - 1) % 3 == 0 && i != n - 1) out += ',';
    }
    return out;
  }
  char buf[64];
  if (a >= 100) {
    std::snprintf(buf, sizeof(buf), "%.0f", v);
  } else if (a >= 10) {
    std::snprintf(buf, sizeof(buf), "%.1f", v);
  } else if (a >= 1) {
    std::snprintf(buf, sizeof(buf), "%.2f", v);
  } else {
    std::snprintf(buf, sizeof(buf), "%.3g", v);
  }
  return buf;
}

std::string FmtRatio(double r) {
  if (std::isnan(r) || std::isinf(r)) return "–";
  char buf[32];
  std::snprintf(buf, sizeof(buf), r >= 10 ? "%.0f×" : r >= 0.1 ? "%.2f×" : "%.2g×", r);
  return buf;
}

std::string SystemTitle(const std::string& s) {
  if (s == "ours") return "ours (native)";
  if (s == "ours_grpc") return "ours (gRPC carrier)";
  if (s == "ours_fork") return "ours (native), fork server";
  if (s == "ours_inline") return "ours (native), inline handler";
  if (s == "ours_grpc_inline") return "ours (gRPC carrier), inline handler";
  if (s == "grpc") return "raw gRPC";
  if (s == "floor") return "UDS floor";
  return s;
}

}  // namespace

void Results::Define(MetricDef def) {
  order_.push_back(def.key);
  defs_[def.key] = std::move(def);
}

void Results::DefineLower(std::string key, std::string label, std::string target_text,
                          double target) {
  Define({std::move(key), std::move(label), Better::kLower, std::move(target_text), target});
}

void Results::DefineHigher(std::string key, std::string label, std::string target_text,
                           double target) {
  Define({std::move(key), std::move(label), Better::kHigher, std::move(target_text), target});
}

void Results::DefineCallRate(std::string key, std::string label, std::string target_text,
                             double target) {
  Define({std::move(key), std::move(label), Better::kHigher, std::move(target_text), target,
          /*vs_grpc=*/true});
}

void Results::Record(const std::string& key, const std::string& system, double value) {
  if (!defs_.count(key)) Die("undefined metric " + key);
  values_[key][system].push_back(value);
}

void Results::Print(const std::vector<std::string>& systems) const {
  auto has = [&](const char* s) {
    return std::find(systems.begin(), systems.end(), s) != systems.end();
  };
  // The ratio columns: every system to the floor, every ours* system to gRPC.
  std::vector<std::string> vs_floor, vs_grpc;
  for (const auto& s : systems) {
    if (has("floor") && s != "floor") vs_floor.push_back(s);
    if (has("grpc") && s != "grpc" && s != "floor") vs_grpc.push_back(s);
  }
  std::printf("| workload |");
  for (const auto& s : systems) std::printf(" %s |", SystemTitle(s).c_str());
  for (const auto& s : vs_floor) std::printf(" %s ÷ floor |", s.c_str());
  for (const auto& s : vs_grpc) std::printf(" %s ÷ gRPC |", s.c_str());
  std::printf(" target (ours) |\n|---|");
  for (size_t i = 0; i < systems.size() + vs_floor.size() + vs_grpc.size(); ++i) {
    std::printf("---:|");
  }
  std::printf("---|\n");
  for (const std::string& key : order_) {
    auto it = values_.find(key);
    if (it == values_.end()) continue;
    const MetricDef& def = defs_.at(key);
    std::map<std::string, double> med;
    for (const auto& s : systems) {
      auto v = it->second.find(s);
      med[s] = v == it->second.end() ? NAN : Median(v->second);
    }
    std::printf("| %s |", def.label.c_str());
    for (const auto& s : systems) std::printf(" %s |", Fmt(med[s]).c_str());
    for (const auto& s : vs_floor) std::printf(" %s |", FmtRatio(med[s] / med["floor"]).c_str());
    for (const auto& s : vs_grpc) {
      std::printf(" %s |", def.vs_grpc ? FmtRatio(med[s] / med["grpc"]).c_str() : "");
    }
    std::string target = def.target_text;
    if (!target.empty() && has("ours") && !std::isnan(med["ours"]) && !std::isnan(def.target)) {
      bool met =
          def.better == Better::kLower ? med["ours"] <= def.target : med["ours"] >= def.target;
      target += met ? " — met" : " — **missed**";
    }
    std::printf(" %s |\n", target.c_str());
  }
}

void Results::PrintSpread(const std::vector<std::string>& systems) const {
  std::printf("| workload |");
  for (const auto& s : systems) std::printf(" %s [min–max] |", SystemTitle(s).c_str());
  std::printf("\n|---|");
  for (size_t i = 0; i < systems.size(); ++i) std::printf("---|");
  std::printf("\n");
  for (const std::string& key : order_) {
    auto it = values_.find(key);
    if (it == values_.end()) continue;
    std::printf("| %s |", defs_.at(key).label.c_str());
    for (const auto& s : systems) {
      auto v = it->second.find(s);
      if (v == it->second.end() || v->second.empty()) {
        std::printf(" – |");
        continue;
      }
      auto [lo, hi] = std::minmax_element(v->second.begin(), v->second.end());
      std::printf(" %s–%s |", Fmt(*lo).c_str(), Fmt(*hi).c_str());
    }
    std::printf("\n");
  }
}

}  // namespace harness
}  // namespace iwbench
