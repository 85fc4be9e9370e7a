// -----------------------------------------------------------------------------
// File: fuzz/call_stream_input.h
// -----------------------------------------------------------------------------
//
// Fuzz input for the worker end of the call stream
// (/iw.internal.CallStream/Calls), shared by the fuzz targets that reach it
// (call_stream_fuzzer.cc, and service_fuzzer.cc behind iw_cc_fuzz_test): the
// stream messages built from the input's bytes, and one stream that sends
// them to an in-process server and checks what comes back.
//
// The input's bytes are read the same way by every target, so a corpus entry
// keeps its meaning; only what `CallBatchOptions` sets differs.
//
// Example:
//
//   iw::fuzz::ByteReader in{data + 1, size - 1};
//   std::vector<uint64_t> ids;
//   std::vector<std::string> messages =
//       iw::fuzz::StructuredCallBatches(in, service, options, &ids);
//   iw::fuzz::RunCallStream(*channel, messages, /*small_replies=*/false,
//                           absl::Seconds(20), &ids, &Check);
#ifndef IW_FUZZ_CALL_STREAM_INPUT_H_
#define IW_FUZZ_CALL_STREAM_INPUT_H_

#include <grpcpp/channel.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "fuzz/byte_reader.h"
#include "runtime/codegen_support/service_info.h"

namespace iw::fuzz {

// What a target chooses about the calls of a structured batch.
struct CallBatchOptions {
  // A call's timeout_us from its timeout byte; 0 leaves it unset.
  uint64_t (*timeout_us)(uint8_t timeout_byte);
  // A call's request is `Byte() % request_modulus` bytes of the input.
  int request_modulus;
};

// Valid call batches (serialized CallBatch messages) built from the input:
// a method table (possibly with an unknown method, or none), then calls
// (method index, some out of range; timeout; metadata; request bytes),
// cancellations of calls already sent, and batch ends, up to 64 calls.
// `ids` gets the call ids sent.
std::vector<std::string> StructuredCallBatches(ByteReader& in,
                                               const iw::codegen::ServiceInfo& service,
                                               const CallBatchOptions& options,
                                               std::vector<uint64_t>* ids);

// The rest of the input split into 1 + `mode_byte` % 4 raw stream messages,
// sent as they are (hostile framing).
std::vector<std::string> RawStreamMessages(uint8_t mode_byte, ByteReader& in);

// Aborts (a finding) if `condition` is false; `what` names the invariant.
using CheckFunction = void (*)(bool condition, const char* what);

// Opens a call stream on `channel` (with a max reply size of 16 bytes if
// `small_replies`, and a deadline `deadline` from now), sends `messages`,
// reads every reply batch and checks with `check` that: replies parse and
// have canonical codes; the stream ends with a canonical status before its
// deadline; and, if `ids` is not null (the messages were valid batches) and
// the stream ended OK, every call in `ids` got exactly one reply and no
// other id got one.
void RunCallStream(grpc::Channel& channel, const std::vector<std::string>& messages,
                   bool small_replies, absl::Duration deadline, const std::vector<uint64_t>* ids,
                   CheckFunction check);

}  // namespace iw::fuzz

#endif  // IW_FUZZ_CALL_STREAM_INPUT_H_
