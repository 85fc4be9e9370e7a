#include "runtime/process/process_usage.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace iw::internal {

namespace {

// The whole of a small /proc file, or nullopt.
std::optional<std::string> ReadSmallFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  std::string contents;
  char buffer[1024];
  while (true) {
    const ssize_t n = ::read(fd, buffer, sizeof(buffer));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    contents.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  if (contents.empty()) return std::nullopt;
  return contents;
}

}  // namespace

std::optional<int64_t> ResidentBytes(int pid) {
  std::optional<std::string> statm = ReadSmallFile(absl::StrCat("/proc/", pid, "/statm"));
  if (!statm) return std::nullopt;
  std::vector<absl::string_view> fields = absl::StrSplit(*statm, ' ', absl::SkipWhitespace());
  int64_t resident_pages = 0;
  if (fields.size() < 2 || !absl::SimpleAtoi(fields[1], &resident_pages)) return std::nullopt;
  return resident_pages * static_cast<int64_t>(::sysconf(_SC_PAGESIZE));
}

std::optional<ProcessUsage> ReadProcessUsage(int pid) {
  std::optional<int64_t> rss = ResidentBytes(pid);
  if (!rss) return std::nullopt;
  std::optional<std::string> stat = ReadSmallFile(absl::StrCat("/proc/", pid, "/stat"));
  if (!stat) return std::nullopt;
  const size_t name_end = stat->rfind(')');
  if (name_end == std::string::npos) return std::nullopt;
  // After "pid (comm)": state is field 3, utime field 14, stime field 15.
  std::vector<absl::string_view> fields =
      absl::StrSplit(absl::string_view(*stat).substr(name_end + 1), ' ', absl::SkipWhitespace());
  constexpr size_t kUtime = 14 - 3;
  constexpr size_t kStime = 15 - 3;
  int64_t utime = 0, stime = 0;
  if (fields.size() <= kStime || !absl::SimpleAtoi(fields[kUtime], &utime) ||
      !absl::SimpleAtoi(fields[kStime], &stime)) {
    return std::nullopt;
  }
  const double ticks = static_cast<double>(::sysconf(_SC_CLK_TCK));
  ProcessUsage usage;
  usage.rss_bytes = *rss;
  usage.cpu_user = absl::Seconds(static_cast<double>(utime) / ticks);
  usage.cpu_system = absl::Seconds(static_cast<double>(stime) / ticks);
  return usage;
}

}  // namespace iw::internal
