// Fuzz target: protoc-gen-iw's generator on odd .proto inputs. The input is
// written as fuzz.proto to a private directory and compiled in-process by
// protoc's own CommandLineInterface with our Generator as --iw_out (as
// tests/codegen/golden_test.cc does), so the whole path runs: protobuf's
// parser and descriptor checks, then our option reading, validation, naming
// and emitters on whatever descriptors survive.
//
// Invariants checked: no crash or sanitizer report; protoc either succeeds
// (and then both <base>.iw.h and <base>.iw.cc exist) or fails cleanly.
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "codegen/generator.h"
#include "fuzz/fuzz_target.h"
#include "google/protobuf/compiler/command_line_interface.h"

namespace {

std::string g_work_dir;
std::vector<std::string> g_include_dirs;
std::string g_argv0;

bool Exists(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0;
}

// Path of a runfile (the proto roots): under `bazel test` from TEST_SRCDIR;
// run by hand from $RUNFILES_DIR or <argv[0]>.runfiles; else the
// repo-relative path (run from the repository root).
std::string DataPath(const std::string& repo_relative) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  if (srcdir != nullptr) {
    return std::string(srcdir) + "/" + (workspace ? workspace : "isolated_workers") + "/" +
           repo_relative;
  }
  const char* runfiles = std::getenv("RUNFILES_DIR");
  std::string root = runfiles ? runfiles : g_argv0 + ".runfiles";
  if (Exists(root)) return root + "/isolated_workers/" + repo_relative;
  return repo_relative;
}

void Fail(const char* what) {
  std::fprintf(stderr, "generator_fuzzer: invariant violated: %s\n", what);
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  if (argc != nullptr && *argc > 0) g_argv0 = (*argv)[0];
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string pattern = std::string(tmp ? tmp : "/tmp") + "/iw_generator_fuzz.XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) Fail("mkdtemp");
  g_work_dir = pattern;
  ::mkdir((g_work_dir + "/out").c_str(), 0700);
  g_include_dirs = {g_work_dir, DataPath("proto"), DataPath("fuzz/corpus/generator"),
                    "/usr/include"};
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (g_work_dir.empty()) LLVMFuzzerInitialize(nullptr, nullptr);
  const std::string input_path = g_work_dir + "/fuzz.proto";
  const std::string out_dir = g_work_dir + "/out";
  {
    std::ofstream out(input_path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  const std::string header = out_dir + "/fuzz.iw.h";
  const std::string source = out_dir + "/fuzz.iw.cc";
  ::unlink(header.c_str());
  ::unlink(source.c_str());

  iw::codegen::Generator generator;
  google::protobuf::compiler::CommandLineInterface cli;
  cli.RegisterGenerator("--iw_out", &generator, "isolated-workers stubs");
  std::vector<std::string> args = {"protoc"};
  for (const std::string& dir : g_include_dirs) args.push_back("-I" + dir);
  args.push_back("--iw_out=" + out_dir);
  args.push_back("fuzz.proto");
  std::vector<const char*> argv;
  for (const std::string& arg : args) argv.push_back(arg.c_str());

  // protoc reports parse errors on fd 2: silence them (thousands per run).
  std::fflush(stderr);
  const int saved_stderr = ::dup(2);
  const int dev_null = ::open("/dev/null", O_WRONLY | O_CLOEXEC);
  ::dup2(dev_null, 2);
  ::close(dev_null);
  const int exit_code = cli.Run(static_cast<int>(argv.size()), argv.data());
  std::fflush(stderr);
  ::dup2(saved_stderr, 2);
  ::close(saved_stderr);

  if (exit_code == 0 && (!Exists(header) || !Exists(source))) {
    Fail("protoc succeeded but fuzz.iw.h / fuzz.iw.cc is missing");
  }
  return 0;
}
