// A handler with a planted bug: Measure() aborts when the blob's first byte
// has its high bit set. Fine for every corpus seed; a few mutations away.
#ifndef TESTS_FUZZ_HARNESS_BUGGY_HANDLER_H_
#define TESTS_FUZZ_HARNESS_BUGGY_HANDLER_H_

#include <cstdio>
#include <cstdlib>

#include "tests/fuzz_harness/buggy.iw.h"

namespace iwtest::fuzz {

class BuggyBlobHandler final : public BlobHandler {
 public:
  absl::StatusOr<BlobReply> Measure(iw::CallContext& /*context*/,
                                    const BlobRequest& request) override {
    if (!request.data().empty() && (request.data()[0] & 0x80) != 0) {
      std::fprintf(stderr, "planted bug: high bit in the first byte\n");
      std::abort();
    }
    BlobReply reply;
    reply.set_size(static_cast<int64_t>(request.data().size()));
    return reply;
  }
};

}  // namespace iwtest::fuzz

#endif  // TESTS_FUZZ_HARNESS_BUGGY_HANDLER_H_
