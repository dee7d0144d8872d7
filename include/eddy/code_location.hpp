// eddy — code_location: a place in the source, captured by default arguments (debug reports,
// call graphs).
#pragma once

#include <cstdint>
#include <string>
#include <version>
#if defined(__cpp_lib_source_location)
#include <source_location>
#endif

namespace eddy {

/// A place in the source: file, line and function, as std::source_location. Captured with
/// `code_location::current()` as a default argument, it names the caller's line. eddy records
/// one per `co_await` in a task and one per coroutine (its definition) for call graphs and
/// debug reports.
///
/// Why not std::source_location directly: clang 14 with libstdc++ 12 lacks the builtin that
/// <source_location> needs (__builtin_source_location, clang 15), so there this falls back to
/// __builtin_FILE/LINE/FUNCTION (three words instead of one pointer).
class code_location {
  public:
    constexpr code_location() noexcept = default;

#if defined(__cpp_lib_source_location)
    /// The caller's place when used as a default argument.
    [[nodiscard]] static constexpr code_location
    current(std::source_location l = std::source_location::current()) noexcept {
        return code_location(l);
    }
    /// The file ("" when unknown).
    [[nodiscard]] constexpr const char* file_name() const noexcept {
        return loc_.file_name();
    }
    /// The function as the compiler names it ("" when unknown). Inside a coroutine body g++
    /// names its generated resume function, so eddy reports a coroutine's function from its
    /// definition's location instead.
    [[nodiscard]] constexpr const char* function_name() const noexcept {
        return loc_.function_name();
    }
    /// The line (0 when unknown).
    [[nodiscard]] constexpr std::uint_least32_t line() const noexcept {
        return loc_.line();
    }

  private:
    constexpr explicit code_location(std::source_location l) noexcept : loc_(l) {}
    std::source_location loc_; // one pointer in libstdc++: a frame pays 8 bytes per location
#else
    /// As above: the caller's place when used as a default argument.
    [[nodiscard]] static constexpr code_location
    current(const char* file = __builtin_FILE(), const char* fn = __builtin_FUNCTION(),
            unsigned line = __builtin_LINE()) noexcept {
        return {file, fn, line};
    }
    /// As above: the file ("" when unknown).
    [[nodiscard]] constexpr const char* file_name() const noexcept {
        return file_;
    }
    /// As above: the function as the compiler names it ("" when unknown).
    [[nodiscard]] constexpr const char* function_name() const noexcept {
        return function_;
    }
    /// As above: the line (0 when unknown).
    [[nodiscard]] constexpr std::uint_least32_t line() const noexcept {
        return line_;
    }

  private:
    constexpr code_location(const char* f, const char* fn, unsigned l) noexcept
        : file_(f), function_(fn), line_(l) {}
    const char* file_ = "";
    const char* function_ = "";
    std::uint_least32_t line_ = 0;
#endif

  public:
    /// True when this names a place (a default-constructed location does not).
    [[nodiscard]] constexpr bool known() const noexcept {
        return line() != 0;
    }
};

namespace detail {
/// "file:line", or "" when unknown (eddy's reports and call graphs).
inline std::string where_text(code_location l) {
    if (!l.known()) {
        return {};
    }
    return std::string(l.file_name()) + ':' + std::to_string(l.line());
}
} // namespace detail

} // namespace eddy
