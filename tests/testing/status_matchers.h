// Catch2 matchers for absl::Status:
//   CHECK_THAT(status, IsOk());
//   CHECK_THAT(status, StatusIs(absl::StatusCode::kDeadlineExceeded));
//   CHECK_THAT(status, StatusIs(absl::StatusCode::kNotFound, "exec"));
// They are the public ones of runtime/testing/status_matchers.h (the same
// names, in iw::testing); this header stays for the project's own tests.
#ifndef IW_TESTS_TESTING_STATUS_MATCHERS_H_
#define IW_TESTS_TESTING_STATUS_MATCHERS_H_

#include "runtime/testing/status_matchers.h"

#endif  // IW_TESTS_TESTING_STATUS_MATCHERS_H_
