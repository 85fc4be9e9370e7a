// -----------------------------------------------------------------------------
// File: codegen/formatting.h
// -----------------------------------------------------------------------------
//
// Small text helpers of the emitters: wrapping a call or declaration at 80
// columns and turning .proto comments into C++ comments. Pure functions.
//
// Example:
//
//   WrapList("  ", "virtual ::absl::Status Add", "(",
//            {"::iw::CallContext& context", "const AddRequest& request"},
//            ") = 0;")
//   // "  virtual ::absl::Status Add(::iw::CallContext& context,\n..."

#ifndef IW_CODEGEN_FORMATTING_H_
#define IW_CODEGEN_FORMATTING_H_

#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "google/protobuf/descriptor.h"

namespace iw::codegen {

// Column limit of generated code.
inline constexpr int kMaxColumns = 80;

// Formats `indent head open item, item, ... close` roughly like clang-format
// (Google style): on one line if it fits in kMaxColumns; else the items
// filled into lines aligned after `open`, or, when that takes two or more
// extra lines, filled after a break behind `open` at indent + 4 spaces. No
// trailing newline.
std::string WrapList(absl::string_view indent, absl::string_view head, absl::string_view open,
                     const std::vector<std::string>& items, absl::string_view close);

// Word-wraps `text` (a single paragraph) into `//` comment lines of at most
// kMaxColumns, each prefixed with `indent` and ending in '\n'.
std::string WrapComment(absl::string_view indent, absl::string_view text);

// Turns a comment from the .proto (SourceLocation::leading_comments: lines
// separated by '\n', usually each starting with a space) into `//` lines,
// each prefixed with `indent` and ending in '\n'. Trailing whitespace and
// trailing blank lines are removed; an empty comment gives "".
std::string CommentLines(absl::string_view indent, absl::string_view comment);

// CommentLines() of the leading comment of a service or method (or "" when
// the descriptor has no source info).
template <typename Descriptor>
std::string LeadingComment(const Descriptor& descriptor, absl::string_view indent) {
  google::protobuf::SourceLocation location;
  if (!descriptor.GetSourceLocation(&location)) return "";
  return CommentLines(indent, location.leading_comments);
}

}  // namespace iw::codegen

#endif  // IW_CODEGEN_FORMATTING_H_
