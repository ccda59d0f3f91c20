#pragma once
/// @file Readable C++ type names for logs and error messages.

#include <string>
#include <typeinfo>

namespace troupe::detail {

/// `mangled` (a std::type_info::name()) as C++ spells it; itself when it
/// does not demangle (a name from another compiler, or garbage from a peer).
[[nodiscard]] std::string demangle(const char* mangled);
[[nodiscard]] inline std::string demangle(const std::type_info& t) { return demangle(t.name()); }

} // namespace troupe::detail
