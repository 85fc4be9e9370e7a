// -----------------------------------------------------------------------------
// File: testing/status_matchers.h
// -----------------------------------------------------------------------------
//
// Catch2 (2.13) matchers for absl::Status, for tests of code that uses
// isolated-workers hosts.
//
// Example:
//
//   using iw::testing::IsOk;
//   using iw::testing::StatusIs;
//   CHECK_THAT(host->Echo(request).status(), IsOk());
//   CHECK_THAT(status, StatusIs(absl::StatusCode::kDeadlineExceeded));
//   CHECK_THAT(status, StatusIs(absl::StatusCode::kUnavailable, "crashed: killed by signal"));
//
// A failed check prints the status as "CODE: message".

#ifndef IW_RUNTIME_TESTING_STATUS_MATCHERS_H_
#define IW_RUNTIME_TESTING_STATUS_MATCHERS_H_

#include <sstream>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "catch2/catch.hpp"

namespace Catch {
template <>
struct StringMaker<absl::Status> {
  static std::string convert(const absl::Status& status) { return status.ToString(); }
};
}  // namespace Catch

namespace iw::testing {

// Matches a status with the given code whose message contains `substring`
// (any message when empty).
class StatusIsMatcher : public Catch::MatcherBase<absl::Status> {
 public:
  StatusIsMatcher(absl::StatusCode code, std::string substring)
      : code_(code), substring_(std::move(substring)) {}

  bool match(const absl::Status& status) const override {
    return status.code() == code_ && absl::StrContains(status.message(), substring_);
  }

  std::string describe() const override {
    std::ostringstream out;
    out << "has code " << absl::StatusCodeToString(code_);
    if (!substring_.empty()) out << " and a message containing \"" << substring_ << "\"";
    return out.str();
  }

 private:
  absl::StatusCode code_;
  std::string substring_;
};

inline StatusIsMatcher StatusIs(absl::StatusCode code, std::string substring = "") {
  return StatusIsMatcher(code, std::move(substring));
}

inline StatusIsMatcher IsOk() { return StatusIsMatcher(absl::StatusCode::kOk, ""); }

}  // namespace iw::testing

#endif  // IW_RUNTIME_TESTING_STATUS_MATCHERS_H_
