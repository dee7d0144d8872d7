// Shared by the examples: the --scale option, flushed printing and wall-clock timing.
#pragma once

#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace example {

/// Every duration an example uses is multiplied by this (--scale F; the tests run at 0.01).
inline double scale = 1.0;

/// `s` seconds, times --scale.
inline std::chrono::duration<double> secs(double s) {
    return std::chrono::duration<double>(s * scale);
}

/// Seconds elapsed since `t`.
inline double since(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

/// Wall time of a call, in seconds.
template <class F> double timed(F&& f) {
    const auto start = std::chrono::steady_clock::now();
    f();
    return since(start);
}

/// printf + fflush: every line is out before the next one, whatever stdout is connected to.
[[gnu::format(printf, 1, 2)]] inline void say(const char* fmt, ...) {
    va_list args;
    va_start(args, fmt);
    std::vprintf(fmt, args);
    va_end(args);
    std::fflush(stdout);
}

/// Accepts `--scale F` (F > 0) and nothing else.
inline bool parse_args(int argc, char** argv) {
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--scale") == 0 && i + 1 < argc) {
            scale = std::strtod(argv[++i], nullptr);
        } else {
            return false;
        }
    }
    return scale > 0;
}

} // namespace example
