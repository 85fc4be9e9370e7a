#include "codegen/formatting.h"

#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"

namespace iw::codegen {

namespace {

// Greedily fills `items` (separated by ", ") into lines. The first line
// starts with `first_prefix`, the others with `continuation`; `close` follows
// the last item. Returns the lines joined by '\n', or "" if a line exceeds
// kMaxColumns.
std::string Fill(absl::string_view first_prefix, absl::string_view continuation,
                 const std::vector<std::string>& items, absl::string_view close, int* line_count) {
  std::vector<std::string> lines = {std::string(first_prefix)};
  bool line_has_item = false;
  for (size_t i = 0; i < items.size(); ++i) {
    const bool last = i + 1 == items.size();
    const std::string piece = absl::StrCat(items[i], last ? close : ",");
    std::string& line = lines.back();
    const size_t extra = (line_has_item ? 1 : 0) + piece.size();
    if (line_has_item && line.size() + extra > kMaxColumns) {
      lines.push_back(absl::StrCat(continuation, piece));
    } else {
      absl::StrAppend(&line, line_has_item ? " " : "", piece);
    }
    line_has_item = true;
  }
  for (const std::string& line : lines) {
    if (line.size() > kMaxColumns) return "";
  }
  *line_count = static_cast<int>(lines.size());
  return absl::StrJoin(lines, "\n");
}

}  // namespace

std::string WrapList(absl::string_view indent, absl::string_view head, absl::string_view open,
                     const std::vector<std::string>& items, absl::string_view close) {
  const std::string one_line = absl::StrCat(indent, head, open, absl::StrJoin(items, ", "), close);
  if (one_line.size() <= kMaxColumns || items.empty()) return one_line;
  // Items aligned after `open`.
  const std::string first = absl::StrCat(indent, head, open);
  int aligned_lines = 0;
  const std::string aligned =
      Fill(first, std::string(first.size(), ' '), items, close, &aligned_lines);
  // Break after `open`, items indented by 4.
  const std::string continuation = absl::StrCat(indent, "    ");
  int broken_lines = 0;
  const std::string broken = Fill(continuation, continuation, items, close, &broken_lines);
  if (!aligned.empty() && (broken.empty() || aligned_lines <= broken_lines + 1)) {
    return aligned;
  }
  if (!broken.empty()) return absl::StrCat(first, "\n", broken);
  // Some item is too long for any layout: one item per line.
  return absl::StrCat(first, "\n", continuation,
                      absl::StrJoin(items, absl::StrCat(",\n", continuation)), close);
}

std::string WrapComment(absl::string_view indent, absl::string_view text) {
  const std::string prefix = absl::StrCat(indent, "//");
  std::string out;
  std::string line = prefix;
  for (absl::string_view word : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    if (line.size() > prefix.size() && line.size() + 1 + word.size() > kMaxColumns) {
      absl::StrAppend(&out, line, "\n");
      line = prefix;
    }
    absl::StrAppend(&line, " ", word);
  }
  if (line.size() > prefix.size()) absl::StrAppend(&out, line, "\n");
  return out;
}

std::string CommentLines(absl::string_view indent, absl::string_view comment) {
  std::vector<std::string> lines;
  for (absl::string_view line : absl::StrSplit(comment, '\n')) {
    line = absl::StripTrailingAsciiWhitespace(line);
    if (line.empty()) {
      lines.push_back(absl::StrCat(indent, "//"));
    } else if (line.front() == ' ') {
      lines.push_back(absl::StrCat(indent, "//", line));
    } else {
      lines.push_back(absl::StrCat(indent, "// ", line));
    }
  }
  const std::string blank = absl::StrCat(indent, "//");
  while (!lines.empty() && lines.back() == blank) lines.pop_back();
  while (!lines.empty() && lines.front() == blank) lines.erase(lines.begin());
  std::string out;
  for (const std::string& line : lines) absl::StrAppend(&out, line, "\n");
  return out;
}

}  // namespace iw::codegen
