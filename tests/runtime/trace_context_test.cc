// W3C Trace Context parsing and validation (trace_context.h), with the
// examples of https://www.w3.org/TR/trace-context/ and of its test suite,
// and the trace context a worker reads from received metadata.
#include "runtime/trace_context.h"

#include <string>

#include "catch2/catch.hpp"
#include "runtime/call_context.h"
#include "tests/testing/status_matchers.h"

namespace {

using iw::TraceContext;
using iw::testing::IsOk;
using iw::testing::StatusIs;

constexpr char kValid[] = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

TEST_CASE("TraceContext: W3C's example parses into its fields", "[runtime][tracing]") {
  auto trace = iw::ParseTraceContext(kValid, "congo=t61rcWkgMzE");
  REQUIRE_THAT(trace.status(), IsOk());
  CHECK(trace->trace_id() == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(trace->parent_id() == "00f067aa0ba902b7");
  CHECK(trace->sampled());
  CHECK(trace->tracestate == "congo=t61rcWkgMzE");
  auto unsampled =
      iw::ParseTraceContext("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", "");
  REQUIRE_THAT(unsampled.status(), IsOk());
  CHECK_FALSE(unsampled->sampled());
  // Other flag bits do not make a call sampled; bit 0 does.
  CHECK_FALSE(iw::ParseTraceContext("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02", "")
                  ->sampled());
  CHECK(iw::ParseTraceContext("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0f", "")
            ->sampled());
}

TEST_CASE("TraceContext: a higher version is parsed by its version-00 fields",
          "[runtime][tracing]") {
  CHECK_THAT(
      iw::ValidateTraceContext(
          {"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-what-the-future-holds", ""}),
      IsOk());
  CHECK_THAT(
      iw::ValidateTraceContext({"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", ""}),
      IsOk());
}

TEST_CASE("TraceContext: an empty context is valid and means none", "[runtime][tracing]") {
  CHECK(TraceContext().empty());
  CHECK_THAT(iw::ValidateTraceContext(TraceContext()), IsOk());
  CHECK(TraceContext().trace_id().empty());
  CHECK_FALSE(TraceContext().sampled());
  CHECK_THAT(iw::ParseTraceContext("", "").status(),
             StatusIs(absl::StatusCode::kInvalidArgument, "traceparent: is empty"));
}

TEST_CASE("TraceContext: an invalid value is INVALID_ARGUMENT naming the problem",
          "[runtime][tracing]") {
  struct Case {
    const char* traceparent;
    const char* tracestate;
    const char* problem;
  };
  const Case c = GENERATE(
      Case{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", "",
           "traceparent: trace id is all zeros"},
      Case{"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "",
           "traceparent: parent id is all zeros"},
      Case{"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "",
           "traceparent: version ff is invalid"},
      Case{"0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "",
           "traceparent: version \"0x\" is not 2 lowercase hex digits"},
      Case{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "",
           "traceparent: trace id \"4BF92F3577B34DA6A3CE929D0E0E4736\" is not 32 lowercase hex"},
      Case{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bZ-01", "",
           "traceparent: parent id \"00f067aa0ba902bZ\" is not 16 lowercase hex"},
      Case{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g", "",
           "traceparent: trace flags \"0g\" is not 2 lowercase hex"},
      Case{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1", "",
           "traceparent: expected 55 characters"},
      Case{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-", "",
           "traceparent: version 00 is exactly 55 characters, got 56"},
      Case{"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "",
           "traceparent: fields are not separated by '-'"},
      Case{"cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01.what", "",
           "a higher version's extra fields must follow a '-'"},
      Case{"", "rojo=1", "tracestate: given without a traceparent"},
      Case{kValid, "rojo", "tracestate: member \"rojo\" is not key=value"},
      Case{kValid, "=1", "tracestate: member \"=1\" is not key=value"},
      Case{kValid, "a=\t1", "tracestate: is not printable ASCII"});
  CAPTURE(c.traceparent, c.tracestate);
  CHECK_THAT(iw::ValidateTraceContext({c.traceparent, c.tracestate}),
             StatusIs(absl::StatusCode::kInvalidArgument, c.problem));
}

TEST_CASE("TraceContext: tracestate is bounded to 32 members and 512 characters",
          "[runtime][tracing]") {
  std::string members;
  for (int i = 0; i < 32; ++i) members += "k" + std::to_string(i) + "=v,";
  CHECK_THAT(iw::ValidateTraceContext({kValid, members}), IsOk());
  CHECK_THAT(iw::ValidateTraceContext({kValid, members + "k32=v"}),
             StatusIs(absl::StatusCode::kInvalidArgument, "more than 32 members"));
  CHECK_THAT(iw::ValidateTraceContext({kValid, "k=" + std::string(511, 'v')}),
             StatusIs(absl::StatusCode::kInvalidArgument, "over the limit of 512"));
  // Empty members and spaces around them are allowed.
  CHECK_THAT(iw::ValidateTraceContext({kValid, " a=1 ,, b=2 "}), IsOk());
}

TEST_CASE("CallContext: trace() is what valid received metadata carried, else empty",
          "[runtime][tracing]") {
  auto context = [](iw::Metadata metadata) {
    return std::make_unique<iw::CallContext>("/p.S/M", absl::InfiniteFuture(), std::move(metadata),
                                             "0123456789abcdef");
  };
  auto valid = context({{"traceparent", kValid}, {"tracestate", "a=1"}, {"tracestate", "b=2"}});
  CHECK(valid->trace().traceparent == kValid);
  CHECK(valid->trace().tracestate == "a=1,b=2");
  CHECK(valid->trace_problem().empty());

  auto none = context({{"x-other", "1"}});
  CHECK(none->trace().empty());
  CHECK(none->trace_problem().empty());

  auto bad = context({{"traceparent", "00-zz"}});
  CHECK(bad->trace().empty());
  CHECK(bad->trace_problem() ==
        "traceparent: expected 55 characters (00-<32 hex trace id>-<16 hex "
        "parent id>-<2 hex flags>), got 5");

  auto twice = context({{"traceparent", kValid}, {"traceparent", kValid}});
  CHECK(twice->trace().empty());
  CHECK(twice->trace_problem() == "traceparent: sent more than once");

  auto bad_state = context({{"traceparent", kValid}, {"tracestate", "nokey"}});
  CHECK(bad_state->trace().traceparent == kValid);
  CHECK(bad_state->trace().tracestate.empty());
  CHECK_THAT(bad_state->trace_problem(), Catch::Contains("tracestate: member"));
}

}  // namespace
