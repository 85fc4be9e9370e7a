// Unit tests of codegen/formatting.h.

#include "codegen/formatting.h"

#include <string>

#include "catch2/catch.hpp"

namespace iw::codegen {
namespace {

bool AllLinesFit(const std::string& text) {
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    if (end - start > static_cast<size_t>(kMaxColumns)) return false;
    start = end + 1;
  }
  return true;
}

TEST_CASE("WrapList: short lists stay on one line", "[codegen]") {
  CHECK(WrapList("  ", "int F", "(", {"int a", "int b"}, ");") == "  int F(int a, int b);");
  CHECK(WrapList("", "void G", "(", {}, ") {") == "void G() {");
}

TEST_CASE("WrapList: long lists align after the open bracket or break", "[codegen]") {
  const std::string aligned = WrapList("", "::absl::Status InvokeHealthCheck", "(",
                                       {"void* handler", "::iw::CallContext& context",
                                        "const ::google::protobuf::MessageLite& request",
                                        "::google::protobuf::MessageLite* response"},
                                       ") {");
  CHECK(aligned ==
        "::absl::Status InvokeHealthCheck(void* handler, "
        "::iw::CallContext& context,\n"
        "                                 "
        "const ::google::protobuf::MessageLite& request,\n"
        "                                 "
        "::google::protobuf::MessageLite* response) {");
  const std::string broken =
      WrapList("  ", "virtual ::absl::StatusOr<::demo::v1::AddResponse> Add", "(",
               {"::iw::CallContext& context", "const ::demo::v1::AddRequest& request"}, ") = 0;");
  CHECK(broken ==
        "  virtual ::absl::StatusOr<::demo::v1::AddResponse> Add(\n"
        "      ::iw::CallContext& context, "
        "const ::demo::v1::AddRequest& request) = 0;");
  CHECK(AllLinesFit(aligned));
  CHECK(AllLinesFit(broken));
}

TEST_CASE("WrapComment: fills words into // lines of at most 80 columns", "[codegen]") {
  const std::string text(30, 'x');
  const std::string wrapped = WrapComment("  ", text + " " + text + " " + text);
  CHECK(wrapped == "  // " + text + " " + text + "\n  // " + text + "\n");
  CHECK(WrapComment("", "") == "");
}

TEST_CASE("CommentLines: converts .proto comments to // lines", "[codegen]") {
  CHECK(CommentLines("  ", " Adds two numbers.\n") == "  // Adds two numbers.\n");
  CHECK(CommentLines("", " First.\n\n Second.  \n\n") == "// First.\n//\n// Second.\n");
  CHECK(CommentLines("", "NoSpace\n") == "// NoSpace\n");
  CHECK(CommentLines("", "") == "");
}

}  // namespace
}  // namespace iw::codegen
