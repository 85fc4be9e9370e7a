// A worker built with iw_cc_worker_binary (tools/iw_cc_worker_binary.bzl):
// spawned by this dynamically linked host like any other worker, and linked
// with gRPC, protobuf and Abseil inside it, not as shared libraries. The
// second part reads the executables' DT_NEEDED entries from their ELF
// dynamic section (what `readelf -d` shows), with no tool outside the test.
#include <elf.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <iterator>
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

// The DT_NEEDED entries (shared libraries the dynamic loader must load) of
// the 64-bit ELF executable at `path`, from its SHT_DYNAMIC section and the
// string table that section links to.
absl::StatusOr<std::vector<std::string>> NeededLibraries(const std::string& path) {
  std::ifstream file(path, std::ios::binary);
  if (!file) return absl::NotFoundError(absl::StrCat("NeededLibraries: cannot open ", path));
  const std::string bytes((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
  Elf64_Ehdr header;
  if (bytes.size() < sizeof(header) || std::memcmp(bytes.data(), ELFMAG, SELFMAG) != 0 ||
      bytes[EI_CLASS] != ELFCLASS64) {
    return absl::InvalidArgumentError(absl::StrCat("NeededLibraries: ", path, " is not ELF64"));
  }
  std::memcpy(&header, bytes.data(), sizeof(header));
  auto section = [&](size_t index) -> absl::StatusOr<Elf64_Shdr> {
    const size_t offset = header.e_shoff + index * sizeof(Elf64_Shdr);
    if (index >= header.e_shnum || offset + sizeof(Elf64_Shdr) > bytes.size()) {
      return absl::OutOfRangeError(
          absl::StrCat("NeededLibraries: ", path, ": section ", index, " is outside the file"));
    }
    Elf64_Shdr shdr;
    std::memcpy(&shdr, bytes.data() + offset, sizeof(shdr));
    return shdr;
  };
  for (size_t i = 0; i < header.e_shnum; ++i) {
    absl::StatusOr<Elf64_Shdr> dynamic = section(i);
    if (!dynamic.ok()) return dynamic.status();
    if (dynamic->sh_type != SHT_DYNAMIC) continue;
    absl::StatusOr<Elf64_Shdr> strings = section(dynamic->sh_link);
    if (!strings.ok()) return strings.status();
    if (dynamic->sh_offset + dynamic->sh_size > bytes.size() ||
        strings->sh_offset + strings->sh_size > bytes.size()) {
      return absl::OutOfRangeError(
          absl::StrCat("NeededLibraries: ", path, ": .dynamic or .dynstr is outside the file"));
    }
    std::vector<std::string> needed;
    for (size_t at = 0; at + sizeof(Elf64_Dyn) <= dynamic->sh_size; at += sizeof(Elf64_Dyn)) {
      Elf64_Dyn entry;
      std::memcpy(&entry, bytes.data() + dynamic->sh_offset + at, sizeof(entry));
      if (entry.d_tag == DT_NULL) break;
      if (entry.d_tag != DT_NEEDED) continue;
      if (entry.d_un.d_val >= strings->sh_size) {
        return absl::OutOfRangeError(
            absl::StrCat("NeededLibraries: ", path, ": DT_NEEDED name outside .dynstr"));
      }
      needed.emplace_back(bytes.c_str() + strings->sh_offset + entry.d_un.d_val);
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

TEST_CASE("iw_cc_worker_binary links gRPC, protobuf and Abseil into the worker, not as DT_NEEDED",
          "[static]") {
  absl::StatusOr<std::vector<std::string>> needed = NeededLibraries(StaticWorkerPath());
  REQUIRE_THAT(needed.status(), IsOk());
  INFO("DT_NEEDED: " << absl::StrJoin(*needed, " "));
  CHECK(FrameworkLibraries(*needed).empty());
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
