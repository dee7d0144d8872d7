// eddy — strings handed to the kernel or libc as C strings (paths, argv, host names).
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace eddy::detail {

/// Throws std::invalid_argument ("<what>: embedded null byte") when `s` holds a NUL byte: as a C
/// string it would end there and silently name another file, argument or host ("a\0.bak" opens
/// "a"). Python raises ValueError the same way.
inline void reject_embedded_nul(std::string_view s, const char* what) {
    if (s.find('\0') != std::string_view::npos) [[unlikely]] {
        throw std::invalid_argument(std::string("eddy: ") + what + ": embedded null byte");
    }
}

} // namespace eddy::detail
