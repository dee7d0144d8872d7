// eddy — debug mode's reports and the loop's debug settings (see loop_options::debug).
#pragma once

#include "eddy/code_location.hpp"
#include "eddy/detail/frames.hpp"
#include "eddy/detail/task_base.hpp"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace eddy::detail {

/// eddy's own wrapper coroutine that keeps a lambda alive (invoke_owned) is left out of call
/// graphs: it is not the user's code and always sits right above the lambda's frame.
inline bool is_internal_frame(const frame_record& f) noexcept {
    const char* file = f.origin_.file_name();
    const std::size_t n = std::strlen(file);
    constexpr std::string_view internal = "eddy/create_task.hpp";
    return n >= internal.size() &&
           std::string_view(file + n - internal.size(), internal.size()) == internal;
}

/// "task 'name'" or "unnamed task".
inline std::string task_label(const task_base& t) {
    return t.name().empty() ? std::string("unnamed task") : "task '" + t.name() + "'";
}

/// The label plus, when known (debug mode), " (created at file:line)".
inline std::string task_title(const task_base& t) {
    std::string s = task_label(t);
    if (const code_location c = t.created_at(); c.known()) {
        s += " (created at " + where_text(c) + ")";
    }
    return s;
}

/// One frame as a call graph line: "file:line in function" where `line` is its latest await
/// (or the definition, before it first suspended).
inline std::string frame_text(const frame_record& f) {
    std::string s = f.where_.known() ? where_text(f.where_) : where_text(f.origin_) + " (start)";
    s += " in ";
    s += f.origin_.function_name();
    return s;
}

/// The task's chain of coroutines, innermost (where it waits) first, eddy's wrappers left out.
inline std::vector<const frame_record*> frames_of(const task_base& t) {
    std::vector<const frame_record*> out;
    for (const frame_record* f = &t.root_frame(); f != nullptr; f = f->child_) {
        if (!is_internal_frame(*f)) {
            out.push_back(f);
        }
    }
    return {out.rbegin(), out.rend()};
}

/// What a loop in debug mode or shuffling ready work needs per turn (kept out of the hot path).
struct debug_settings {
    bool debug = false;
    std::chrono::nanoseconds slow_step{};
    std::uint64_t shuffle_seed = 0; // 0: not shuffling
    std::uint64_t rng = 0;          // splitmix64 state
    std::thread::id owner;
    /// Time spent in the eager first steps nested in the step being measured (checked_step).
    std::chrono::nanoseconds nested{};

    /// splitmix64: small, good enough to permute a turn, and the same sequence everywhere.
    std::uint64_t next() noexcept {
        std::uint64_t z = (rng += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30U)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27U)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31U);
    }
};

/// True when the environment variable `name` is set to something other than "" or "0".
inline bool env_flag(const char* name) noexcept {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0' && std::strcmp(v, "0") != 0;
}

/// Debug mode found a loop touched by a thread that is not its own. Carrying on would corrupt
/// the loop (its queues are not thread-safe), so this reports and aborts, as an assertion does.
[[noreturn]] inline void report_wrong_thread(const char* what) noexcept {
    std::fprintf(stderr,
                 "eddy: the event loop was used from a thread that is not its own (%s); other "
                 "threads must go through loop_handle::call_soon_threadsafe\n",
                 what);
    std::abort();
}

/// Debug mode: a task coroutine was destroyed without ever being awaited or scheduled
/// (asyncio's "coroutine ... was never awaited"). `in` is the task running when it happened.
inline void report_never_awaited(code_location origin, const task_base* in) noexcept {
    try {
        std::string msg = "eddy: coroutine ";
        msg += origin.function_name();
        msg += " (" + where_text(origin) + ") was never awaited";
        if (in != nullptr) {
            msg += "; dropped in " + task_title(*in);
            const frame_record& at = in->root_frame().innermost();
            if (at.where_.known()) {
                msg += " after " + where_text(at.where_);
            }
        }
        std::fprintf(stderr, "%s\n", msg.c_str());
    } catch (...) { // NOLINT(bugprone-empty-catch): out of memory for the message
    }
}

/// Debug mode: a step of `t` (null: a plain callback) ran for `took` without yielding.
/// `resumed`/`origin`: the innermost frame's await and definition before the step ran.
/// `next`: where the task suspended at the end of the step (unknown if it finished), so the
/// blocking code lies between the two.
inline void report_slow_step(const task_base* t, code_location resumed, code_location origin,
                             code_location next, std::chrono::nanoseconds took) noexcept {
    try {
        const long long ms = std::chrono::duration_cast<std::chrono::milliseconds>(took).count();
        std::string msg = "eddy: ";
        if (t == nullptr) {
            msg += "a callback blocked the loop for " + std::to_string(ms) + " ms";
        } else {
            msg += task_label(*t) + " blocked the loop for " + std::to_string(ms) + " ms ";
            if (resumed.known()) {
                msg += "after resuming at " + where_text(resumed);
            } else {
                msg += "before its first co_await";
            }
            msg += " in ";
            msg += origin.function_name();
            if (!resumed.known()) {
                msg += " (" + where_text(origin) + ")";
            }
            if (next.known()) {
                msg += "; next co_await at " + where_text(next);
            }
            if (const code_location c = t->created_at(); c.known()) {
                msg += "; task created at " + where_text(c);
            }
        }
        std::fprintf(stderr, "%s\n", msg.c_str());
    } catch (...) { // NOLINT(bugprone-empty-catch): out of memory for the message
    }
}

} // namespace eddy::detail
