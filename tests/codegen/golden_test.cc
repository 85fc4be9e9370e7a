// Golden tests of the generator, run in-process: protoc's own
// CommandLineInterface parses each fixture in testdata/ and runs our
// Generator on it (as `--iw_out`); the output must equal the checked-in
// goldens byte for byte. Negative fixtures must fail with a precise error.
//
// Regenerate the goldens with tools/update_goldens.sh.

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "catch2/catch.hpp"
#include "codegen/generator.h"
#include "google/protobuf/compiler/command_line_interface.h"

namespace iw::codegen {
namespace {

// Path of a data file of this test: under Bazel, in the runfiles tree; else
// relative to the working directory (the repository root).
std::string DataPath(const std::string& repo_relative) {
  const char* srcdir = getenv("TEST_SRCDIR");
  const char* workspace = getenv("TEST_WORKSPACE");
  if (srcdir == nullptr || workspace == nullptr) return repo_relative;
  return std::string(srcdir) + "/" + workspace + "/" + repo_relative;
}

std::string MakeTempDir() {
  const char* tmp = getenv("TEST_TMPDIR");
  std::string pattern = std::string(tmp != nullptr ? tmp : "/tmp") + "/golden_test.XXXXXX";
  REQUIRE(mkdtemp(pattern.data()) != nullptr);
  return pattern;
}

bool ReadFile(const std::string& path, std::string* contents) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  *contents = buffer.str();
  return true;
}

struct ProtocResult {
  int exit_code;
  std::string stderr_output;
  std::string out_dir;
};

// Runs protoc in-process on testdata/<proto> with our generator as --iw_out
// (`parameter` is passed as "--iw_out=<parameter>:<dir>" when non-empty).
ProtocResult RunProtoc(const std::string& proto, const std::string& parameter = "") {
  ProtocResult result;
  result.out_dir = MakeTempDir();
  Generator generator;
  google::protobuf::compiler::CommandLineInterface cli;
  cli.RegisterGenerator("--iw_out", &generator, "isolated-workers stubs");
  const std::vector<std::string> args = {
      "protoc",
      "-I" + DataPath("tests/codegen/testdata"),
      "-I" + DataPath("proto"),
      "-I/usr/include",
      "--iw_out=" + (parameter.empty() ? "" : parameter + ":") + result.out_dir,
      proto,
  };
  std::vector<const char*> argv;
  for (const std::string& arg : args) argv.push_back(arg.c_str());

  // CommandLineInterface reports errors on fd 2: capture them in a file.
  const std::string stderr_path = result.out_dir + "/stderr.txt";
  fflush(stderr);
  const int saved_stderr = dup(2);
  REQUIRE(saved_stderr >= 0);
  const int capture = open(stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  REQUIRE(capture >= 0);
  REQUIRE(dup2(capture, 2) == 2);
  close(capture);
  result.exit_code = cli.Run(static_cast<int>(argv.size()), argv.data());
  fflush(stderr);
  REQUIRE(dup2(saved_stderr, 2) == 2);
  close(saved_stderr);
  REQUIRE(ReadFile(stderr_path, &result.stderr_output));
  return result;
}

// The first line where `actual` and `expected` differ, for the failure
// message.
std::string FirstDifference(const std::string& actual, const std::string& expected) {
  std::istringstream a(actual), e(expected);
  std::string line_a, line_e;
  for (int line = 1;; ++line) {
    const bool more_a = static_cast<bool>(std::getline(a, line_a));
    const bool more_e = static_cast<bool>(std::getline(e, line_e));
    if (!more_a && !more_e) return "no line differs (trailing newline?)";
    if (!more_a || !more_e || line_a != line_e) {
      return "line " + std::to_string(line) +
             ":\n  actual:   " + (more_a ? line_a : "<end of file>") +
             "\n  expected: " + (more_e ? line_e : "<end of file>");
    }
  }
}

TEST_CASE("Generator: output matches the goldens", "[codegen]") {
  const std::string name = GENERATE(as<std::string>{}, "basic", "no_package", "multi_service",
                                    "no_service", "streaming");
  CAPTURE(name);
  const ProtocResult result = RunProtoc(name + ".proto");
  INFO("protoc stderr: " << result.stderr_output);
  REQUIRE(result.exit_code == 0);
  CHECK(result.stderr_output.empty());
  for (const std::string suffix : {".iw.h", ".iw.cc"}) {
    CAPTURE(suffix);
    std::string actual, expected;
    REQUIRE(ReadFile(result.out_dir + "/" + name + suffix, &actual));
    REQUIRE(ReadFile(DataPath("tests/codegen/testdata/" + name + suffix + ".golden"), &expected));
    INFO(FirstDifference(actual, expected)
         << "\n(run tools/update_goldens.sh and review the diff)");
    CHECK(actual == expected);
  }
}

TEST_CASE("Generator: invalid input fails with a precise error", "[codegen]") {
  auto [proto, message] = GENERATE(table<std::string, std::string>({
      {"bad_timeout.proto",
       "bad_timeout.proto: Timer.Wait: option (iw.method).timeout_ms must be "
       "in [1, 604800000], got 0"},
      {"bad_service_option.proto",
       "bad_service_option.proto: Pool: option "
       "(iw.service).max_concurrent_calls must be in [1, 65536], got 65537"},
      {"bad_max_attempts.proto",
       "bad_max_attempts.proto: Retrier.Go: option (iw.method).max_attempts "
       "needs on_crash: CRASH_RETRY"},
      {"bad_streaming_retry.proto",
       "bad_streaming_retry.proto: Uploader.Upload: option (iw.method).on_crash: "
       "CRASH_RETRY is not allowed on a client-streaming method: its requests are "
       "consumed as they are sent, so the runtime cannot replay them on a new worker"},
      {"bad_streaming_retry_bidi.proto",
       "bad_streaming_retry_bidi.proto: Talker.Chat: option (iw.method).on_crash: "
       "CRASH_RETRY is not allowed on a bidirectional method"},
      {"bad_streaming_inline.proto",
       "bad_streaming_inline.proto: Streamer.Watch: option (iw.method).inline_handler "
       "is not allowed on a streaming method: its handler waits for stream messages "
       "that the thread it would run on delivers"},
      {"bad_stream_collision.proto",
       "bad_stream_collision.proto: Streamer.Stream: generated method "
       "`StreamerHost::StreamAsync` collides with `iw::HostBase::StreamAsync`"},
      {"bad_stream_async_collision.proto",
       "bad_stream_async_collision.proto: Streamer.WatchAsync: method name "
       "`WatchAsync` collides with the generated asynchronous method of `Watch`"},
      {"bad_collision.proto",
       "bad_collision.proto: Closer.Close: generated method "
       "`CloserHost::Close` "
       "collides with `iw::HostBase::Close`"},
      {"bad_symbol_collision.proto",
       "bad_symbol_collision.proto: Engine: generated name `EngineHost` "
       "collides with `bad.EngineHost`"},
  }));
  CAPTURE(proto);
  const ProtocResult result = RunProtoc(proto);
  CHECK(result.exit_code != 0);
  CHECK_THAT(result.stderr_output, Catch::Matchers::Contains(message));
}

TEST_CASE("Generator: a client-streaming or bidi method leaves its <Method>Async name free",
          "[codegen]") {
  const ProtocResult result = RunProtoc("stream_async_names.proto");
  INFO("protoc stderr: " << result.stderr_output);
  REQUIRE(result.exit_code == 0);
  std::string header;
  REQUIRE(ReadFile(result.out_dir + "/stream_async_names.iw.h", &header));
  CHECK_THAT(header, Catch::Matchers::Contains(" UploadAsync(") &&
                         Catch::Matchers::Contains(" ChatAsync(") &&
                         Catch::Matchers::Contains(" ChatAsyncAsync("));
}

TEST_CASE("Generator: unknown parameters are errors", "[codegen]") {
  const ProtocResult result = RunProtoc("basic.proto", "no_such_key=1");
  CHECK(result.exit_code != 0);
  CHECK_THAT(result.stderr_output, Catch::Matchers::Contains("unknown parameter \"no_such_key\""));
}

}  // namespace
}  // namespace iw::codegen
