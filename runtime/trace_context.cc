#include "runtime/trace_context.h"

#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace iw {
namespace {

// Length of a version-00 traceparent, and the offsets of its fields.
constexpr size_t kTraceparentSize = 55;
constexpr size_t kTraceIdAt = 3;
constexpr size_t kTraceIdSize = 32;
constexpr size_t kParentIdAt = 36;
constexpr size_t kParentIdSize = 16;
constexpr size_t kFlagsAt = 53;
// W3C: at most 32 list members; vendors propagate at least 512 characters.
constexpr size_t kMaxTracestateMembers = 32;
constexpr size_t kMaxTracestateSize = 512;

bool IsLowerHex(absl::string_view s) {
  for (char c : s) {
    if (!(absl::ascii_isdigit(c) || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

bool AllZeros(absl::string_view s) { return s.find_first_not_of('0') == absl::string_view::npos; }

absl::Status Bad(absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", problem));
}

absl::Status ValidateHexField(absl::string_view value, size_t at, size_t size,
                              absl::string_view name) {
  absl::string_view field = value.substr(at, size);
  if (!IsLowerHex(field)) {
    return Bad("traceparent", absl::StrCat(name, " \"", absl::CEscape(field), "\" is not ", size,
                                           " lowercase hex digits"));
  }
  return absl::OkStatus();
}

absl::Status ValidateTraceparent(absl::string_view value) {
  if (value.size() < kTraceparentSize) {
    return Bad("traceparent",
               absl::StrCat("expected 55 characters (00-<32 hex trace id>-<16 hex parent id>-<2 "
                            "hex flags>), got ",
                            value.size()));
  }
  if (absl::Status s = ValidateHexField(value, 0, 2, "version"); !s.ok()) return s;
  if (value.substr(0, 2) == "ff") return Bad("traceparent", "version ff is invalid");
  if (value[2] != '-' || value[kParentIdAt - 1] != '-' || value[kFlagsAt - 1] != '-') {
    return Bad("traceparent", "fields are not separated by '-' at offsets 2, 35 and 52");
  }
  if (value.substr(0, 2) == "00" && value.size() != kTraceparentSize) {
    return Bad("traceparent",
               absl::StrCat("version 00 is exactly 55 characters, got ", value.size()));
  }
  if (value.size() > kTraceparentSize && value[kTraceparentSize] != '-') {
    return Bad("traceparent", "a higher version's extra fields must follow a '-' at offset 55");
  }
  if (absl::Status s = ValidateHexField(value, kTraceIdAt, kTraceIdSize, "trace id"); !s.ok()) {
    return s;
  }
  if (AllZeros(value.substr(kTraceIdAt, kTraceIdSize))) {
    return Bad("traceparent", "trace id is all zeros");
  }
  if (absl::Status s = ValidateHexField(value, kParentIdAt, kParentIdSize, "parent id"); !s.ok()) {
    return s;
  }
  if (AllZeros(value.substr(kParentIdAt, kParentIdSize))) {
    return Bad("traceparent", "parent id is all zeros");
  }
  return ValidateHexField(value, kFlagsAt, 2, "trace flags");
}

absl::Status ValidateTracestate(absl::string_view value) {
  if (value.size() > kMaxTracestateSize) {
    return Bad("tracestate", absl::StrCat("is ", value.size(), " characters, over the limit of ",
                                          kMaxTracestateSize));
  }
  for (char c : value) {
    if (c < 0x20 || c > 0x7e) return Bad("tracestate", "is not printable ASCII");
  }
  size_t members = 0;
  for (absl::string_view member : absl::StrSplit(value, ',')) {
    member = absl::StripAsciiWhitespace(member);
    if (member.empty()) continue;  // W3C allows empty list members
    const size_t eq = member.find('=');
    if (eq == 0 || eq == absl::string_view::npos || eq + 1 == member.size()) {
      return Bad("tracestate",
                 absl::StrCat("member \"", absl::CEscape(member), "\" is not key=value"));
    }
    if (++members > kMaxTracestateMembers) {
      return Bad("tracestate", absl::StrCat("has more than ", kMaxTracestateMembers, " members"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::string_view TraceContext::trace_id() const {
  if (traceparent.size() < kTraceparentSize) return {};
  return absl::string_view(traceparent).substr(kTraceIdAt, kTraceIdSize);
}

absl::string_view TraceContext::parent_id() const {
  if (traceparent.size() < kTraceparentSize) return {};
  return absl::string_view(traceparent).substr(kParentIdAt, kParentIdSize);
}

bool TraceContext::sampled() const {
  if (traceparent.size() < kTraceparentSize) return false;
  const char low = traceparent[kFlagsAt + 1];
  const int nibble = absl::ascii_isdigit(low) ? low - '0' : low - 'a' + 10;
  return (nibble & 1) != 0;
}

absl::Status ValidateTraceContext(const TraceContext& trace) {
  if (trace.traceparent.empty()) {
    if (!trace.tracestate.empty()) return Bad("tracestate", "given without a traceparent");
    return absl::OkStatus();  // no trace context
  }
  if (absl::Status s = ValidateTraceparent(trace.traceparent); !s.ok()) return s;
  return ValidateTracestate(trace.tracestate);
}

absl::StatusOr<TraceContext> ParseTraceContext(absl::string_view traceparent,
                                               absl::string_view tracestate) {
  TraceContext trace{std::string(traceparent), std::string(tracestate)};
  if (trace.traceparent.empty()) return Bad("traceparent", "is empty");
  if (absl::Status s = ValidateTraceContext(trace); !s.ok()) return s;
  return trace;
}

}  // namespace iw
