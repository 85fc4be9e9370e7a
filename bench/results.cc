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
  std::snprintf(buf, sizeof(buf), r >= 10 ? "%.0f×" : "%.2f×", r);
  return buf;
}

const char* SystemTitle(const std::string& s) {
  if (s == "ours") return "ours";
  if (s == "ours_inline") return "ours, inline handler";
  if (s == "grpc") return "raw gRPC";
  return "UDS floor";
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

void Results::Record(const std::string& key, const std::string& system, double value) {
  if (!defs_.count(key)) Die("undefined metric " + key);
  values_[key][system].push_back(value);
}

void Results::Print(const std::vector<std::string>& systems) const {
  auto has = [&](const char* s) {
    return std::find(systems.begin(), systems.end(), s) != systems.end();
  };
  std::printf("| workload |");
  for (const auto& s : systems) std::printf(" %s |", SystemTitle(s));
  if (has("ours") && has("grpc")) std::printf(" ours/gRPC |");
  if (has("ours") && has("floor")) std::printf(" ours/floor |");
  std::printf(" target (ours) |\n|---|");
  for (size_t i = 0; i < systems.size(); ++i) std::printf("---:|");
  if (has("ours") && has("grpc")) std::printf("---:|");
  if (has("ours") && has("floor")) std::printf("---:|");
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
    // Cost ratio: > 1 means ours is slower / more expensive.
    auto ratio = [&](const std::string& other) {
      return def.better == Better::kLower ? med["ours"] / med[other] : med[other] / med["ours"];
    };
    if (has("ours") && has("grpc")) std::printf(" %s |", FmtRatio(ratio("grpc")).c_str());
    if (has("ours") && has("floor")) std::printf(" %s |", FmtRatio(ratio("floor")).c_str());
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
  for (const auto& s : systems) std::printf(" %s [min–max] |", SystemTitle(s));
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
