// FOR INTERNAL USE. Type names for the errors of user code that throws
// (handlers, middleware): "std::runtime_error", not "St13runtime_error".
#ifndef IW_RUNTIME_COMMON_DEMANGLE_H_
#define IW_RUNTIME_COMMON_DEMANGLE_H_

#include <string>

namespace iw::internal {

// The readable form of a mangled type name (as from typeid(...).name()), or
// `name` itself if it does not demangle.
std::string Demangle(const char* name);

// Inside a catch (...): the type of the exception being handled, or "an
// unknown exception".
std::string CurrentExceptionTypeName();

}  // namespace iw::internal

#endif  // IW_RUNTIME_COMMON_DEMANGLE_H_
