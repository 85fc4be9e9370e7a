// A worker built with iw_cc_worker_binary (tools/iw_cc_worker_binary.bzl):
// spawned by this dynamically linked host like any other worker, and linked
// with gRPC, protobuf and Abseil inside it, not as shared libraries. The
// second part reads the executables' DT_NEEDED entries from their ELF
// dynamic section (what `readelf -d` shows), with no tool outside the test.
#include <elf.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "catch2/catch.hpp"
#include "tests/e2e/e2e_util.h"
#include "tests/testing/process_hygiene.h"
#include "tests/testing/status_matchers.h"
#include "tests/workers/test_service.iw.h"

namespace {

using iw::testing::IsOk;
using iw::testing::NoChildProcesses;
using iw::testing::RunfilePath;
using iw::testing::SpawnOrDie;
using iw::testing::TestWorkerOptions;

std::string StaticWorkerPath() { return RunfilePath("tests/workers/static_test_worker"); }

// Reads `size` bytes at `offset` of `file` into `out`; false if the file
// ends first.
bool ReadAt(std::ifstream& file, uint64_t offset, void* out, size_t size) {
  file.clear();
  file.seekg(static_cast<std::streamoff>(offset));
  file.read(static_cast<char*>(out), static_cast<std::streamsize>(size));
  return file.gcount() == static_cast<std::streamsize>(size);
}

// The DT_NEEDED entries (shared libraries the dynamic loader must load) of
// the 64-bit ELF executable at `path`, from its SHT_DYNAMIC section and the
// string table that section links to. Reads only the headers and those two
// sections (the executables are up to ~20 MB).
absl::StatusOr<std::vector<std::string>> NeededLibraries(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat("NeededLibraries: cannot open ", path));
  Elf64_Ehdr header;
  if (!ReadAt(file, 0, &header, sizeof(header)) ||
      std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0 || header.e_ident[EI_CLASS] != ELFCLASS64) {
    return absl::InvalidArgumentError(absl::StrCat("NeededLibraries: ", path, " is not ELF64"));
  }
  auto section = [&](size_t index) -> absl::StatusOr<Elf64_Shdr> {
    Elf64_Shdr shdr;
    if (index >= header.e_shnum ||
        !ReadAt(file, header.e_shoff + index * sizeof(Elf64_Shdr), &shdr, sizeof(shdr))) {
      return absl::OutOfRangeError(
          absl::StrCat("NeededLibraries: ", path, ": section ", index, " is outside the file"));
    }
    return shdr;
  };
  for (size_t i = 0; i < header.e_shnum; ++i) {
    absl::StatusOr<Elf64_Shdr> dynamic = section(i);
    if (!dynamic.ok()) return dynamic.status();
    if (dynamic->sh_type != SHT_DYNAMIC) continue;
    absl::StatusOr<Elf64_Shdr> strings = section(dynamic->sh_link);
    if (!strings.ok()) return strings.status();
    std::vector<Elf64_Dyn> entries(dynamic->sh_size / sizeof(Elf64_Dyn));
    std::string names(strings->sh_size, '\0');
    if (!ReadAt(file, dynamic->sh_offset, entries.data(), entries.size() * sizeof(Elf64_Dyn)) ||
        !ReadAt(file, strings->sh_offset, names.data(), names.size())) {
      return absl::OutOfRangeError(
          absl::StrCat("NeededLibraries: ", path, ": .dynamic or .dynstr is outside the file"));
    }
    std::vector<std::string> needed;
    for (const Elf64_Dyn& entry : entries) {
      if (entry.d_tag == DT_NULL) break;
      if (entry.d_tag != DT_NEEDED) continue;
      if (entry.d_un.d_val >= names.size()) {
        return absl::OutOfRangeError(
            absl::StrCat("NeededLibraries: ", path, ": DT_NEEDED name outside .dynstr"));
      }
      needed.emplace_back(names.c_str() + entry.d_un.d_val);
    }
    return needed;
  }
  return std::vector<std::string>();  // no dynamic section: fully static
}

// The entries of `needed` that are gRPC, protobuf or Abseil libraries.
std::vector<std::string> FrameworkLibraries(const std::vector<std::string>& needed) {
  std::vector<std::string> found;
  for (const std::string& library : needed) {
    if (absl::StartsWith(library, "libgrpc") || absl::StartsWith(library, "libgpr") ||
        absl::StartsWith(library, "libprotobuf") || absl::StartsWith(library, "libabsl")) {
      found.push_back(library);
    }
  }
  return found;
}

TEST_CASE("A worker built with iw_cc_worker_binary is spawned and answers calls", "[e2e][static]") {
  {
    iw::WorkerOptions options = TestWorkerOptions();
    options.executable = StaticWorkerPath();
    auto host = SpawnOrDie(options);

    iwtest::EchoRequest request;
    request.set_text("static hello");
    absl::StatusOr<iwtest::EchoReply> reply = host->Echo(request);
    REQUIRE_THAT(reply.status(), IsOk());
    CHECK(reply->text() == "static hello");
    CHECK(reply->pid() != ::getpid());

    iwtest::CountRequest count;
    count.set_text("tick");
    count.set_count(3);
    iw::ResponseStream<iwtest::CountReply> stream = host->Count(count);
    int expected = 0;
    for (const iwtest::CountReply& tick : stream) {
      CHECK(tick.text() == absl::StrCat("tick #", expected));
      ++expected;
    }
    CHECK(expected == 3);
    CHECK_THAT(stream.Finish(), IsOk());
    CHECK_THAT(host->Close(), IsOk());
  }
  CHECK(NoChildProcesses());
}

TEST_CASE(
    "iw_cc_worker_binary links gRPC, protobuf and Abseil into the worker, not as DT_NEEDED "
    "(except under --config=tsan)",
    "[static]") {
  absl::StatusOr<std::vector<std::string>> needed = NeededLibraries(StaticWorkerPath());
  REQUIRE_THAT(needed.status(), IsOk());
  INFO("DT_NEEDED: " << absl::StrJoin(*needed, " "));
#if defined(__SANITIZE_THREAD__)
  // The TSan build interposes the shared Abseil (runtime/common/tsan_support.cc),
  // so the rule links the system libraries dynamically there.
  CHECK_FALSE(FrameworkLibraries(*needed).empty());
#else
  CHECK(FrameworkLibraries(*needed).empty());
#endif
  // glibc stays shared (and so do libstdc++, libm, libgcc_s, libatomic).
  CHECK(std::find(needed->begin(), needed->end(), "libc.so.6") != needed->end());
}

TEST_CASE("The dynamically linked test_worker does list gRPC, protobuf and Abseil as DT_NEEDED",
          "[static]") {
  // The control case: the same reader finds them where they are.
  absl::StatusOr<std::vector<std::string>> needed = NeededLibraries(iw::testing::TestWorkerPath());
  REQUIRE_THAT(needed.status(), IsOk());
  INFO("DT_NEEDED: " << absl::StrJoin(*needed, " "));
  const std::vector<std::string> framework = FrameworkLibraries(*needed);
  auto has = [&](absl::string_view prefix) {
    return std::any_of(framework.begin(), framework.end(), [&](const std::string& library) {
      return absl::StartsWith(library, prefix);
    });
  };
  CHECK(has("libgrpc++"));
  CHECK(has("libprotobuf"));
  CHECK(has("libabsl_"));
}

}  // namespace
