// Shared by the examples: the --scale option (and the networking examples' --port and --count),
// flushed printing and wall-clock timing.
#pragma once

#include <chrono>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include <eddy/eddy.hpp>

namespace example {

/// Every duration an example uses is multiplied by this (--scale F; the tests run at 0.05).
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

/// Accepts `--scale F` (F > 0), and for the examples that pass somewhere to put them,
/// `--port N` (1..65535: the networking examples then talk to a real port instead of running
/// their self-contained demo) and `--count N` (N > 0); nothing else.
inline bool parse_args(int argc, char** argv, unsigned* port = nullptr, unsigned* count = nullptr) {
    for (int i = 1; i < argc; ++i) {
        const bool has_value = i + 1 < argc;
        if (std::strcmp(argv[i], "--scale") == 0 && has_value) {
            scale = std::strtod(argv[++i], nullptr);
        } else if (port != nullptr && std::strcmp(argv[i], "--port") == 0 && has_value) {
            const long n = std::strtol(argv[++i], nullptr, 10);
            if (n < 1 || n > 65535) {
                return false;
            }
            *port = static_cast<unsigned>(n);
        } else if (count != nullptr && std::strcmp(argv[i], "--count") == 0 && has_value) {
            const long n = std::strtol(argv[++i], nullptr, 10);
            if (n < 1 || n > 100'000'000) {
                return false;
            }
            *count = static_cast<unsigned>(n);
        } else {
            return false;
        }
    }
    return scale > 0;
}

/// The --port mode of the server examples: serves until Ctrl-C (eddy::run turns the first one
/// into a cancellation of `serve`'s task and throws keyboard_interrupt). Returns main's exit
/// status: 0, or 130 after Ctrl-C as a shell reports it.
template <class Task> int serve_until_interrupted(Task serve) {
    try {
        eddy::run(std::move(serve));
    } catch (const eddy::keyboard_interrupt&) {
        say("\ninterrupted: server closed\n");
        return 130;
    }
    return 0;
}

} // namespace example
