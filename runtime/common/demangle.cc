#include "runtime/common/demangle.h"

#include <cxxabi.h>

#include <cstdlib>
#include <typeinfo>

namespace iw::internal {

std::string Demangle(const char* name) {
  int status = 0;
  char* demangled = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  std::string result = (status == 0 && demangled) ? demangled : name;
  std::free(demangled);
  return result;
}

std::string CurrentExceptionTypeName() {
  std::type_info* type = abi::__cxa_current_exception_type();
  return type ? Demangle(type->name()) : "an unknown exception";
}

}  // namespace iw::internal
