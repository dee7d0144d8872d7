// eddy — introspection: the current task, all tasks, and async call graphs (asyncio.graph).
#pragma once

#include "eddy/code_location.hpp"
#include "eddy/create_task.hpp"
#include "eddy/detail/debug.hpp"
#include "eddy/detail/done_callback.hpp"
#include "eddy/detail/task_base.hpp"
#include "eddy/errors.hpp"
#include "eddy/loop.hpp"

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace eddy {

/// A shared, type-erased handle to a scheduled task (what asyncio.current_task() and
/// all_tasks() return): enough to name, inspect and cancel it, not to read its result.
///
/// Ownership: holds a reference, so the task's state outlives the handle even after the task
/// finished. Loop thread only.
class task_ref {
  public:
    task_ref() noexcept = default;
    /// Refers to the task behind `h` (an empty handle gives an empty task_ref).
    template <class T>
    task_ref(const task_handle<T>& h) noexcept // NOLINT(google-explicit-constructor)
        : task_ref(h.state()) {}
    /// Refers to `t` (eddy internal).
    explicit task_ref(detail::task_base* t) noexcept : p_(t) {
        if (p_ != nullptr) {
            p_->add_ref();
        }
    }
    /// Takes over one reference to `t` (eddy internal: the form done-callbacks use).
    task_ref(detail::adopt_ref_t /*unused*/, detail::task_base* t) noexcept : p_(t) {}
    task_ref(const task_ref& o) noexcept : task_ref(o.p_) {}
    task_ref(task_ref&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    task_ref& operator=(task_ref o) noexcept {
        std::swap(p_, o.p_);
        return *this;
    }
    ~task_ref() {
        if (p_ != nullptr) {
            p_->release();
        }
    }

    /// False for an empty handle (current_task() outside a task); every other member but
    /// `==` requires true.
    [[nodiscard]] bool valid() const noexcept { return p_ != nullptr; }
    explicit operator bool() const noexcept { return valid(); }
    /// The task's name ("" when it has none).
    [[nodiscard]] const std::string& name() const noexcept { return p_->name(); }
    /// True once the task has finished (returned, failed or was cancelled).
    [[nodiscard]] bool done() const noexcept { return p_->done(); }
    /// True when it finished by cancellation.
    [[nodiscard]] bool cancelled() const noexcept { return p_->cancelled(); }
    /// Requests cancellation (asyncio's Task.cancel); false when already done.
    bool cancel(std::string message = {}) { return p_->cancel(std::move(message)); }
    /// Pending cancellation requests (asyncio's Task.cancelling()).
    [[nodiscard]] int cancelling() const noexcept { return p_->cancelling(); }
    /// Withdraws one cancellation request and returns how many remain (Task.uncancel()): what
    /// a task that handled a cancellation does to itself, `eddy::current_task().uncancel()`.
    int uncancel() noexcept { return p_->uncancel(); }
    /// Where create_task was called, known in debug mode only.
    [[nodiscard]] code_location created_at() const noexcept { return p_->created_at(); }
    /// The task's exception, null if it returned a value (asyncio's Task.exception()): the
    /// failure counts as retrieved, so it is not reported when the task is destroyed. Throws
    /// eddy::invalid_state_error if the task has not finished or the task_ref is empty,
    /// eddy::cancelled_error if it was cancelled.
    [[nodiscard]] std::exception_ptr exception() const {
        if (p_ == nullptr) {
            throw invalid_state_error("eddy::task_ref: exception() on an empty task_ref");
        }
        return p_->exception();
    }
    /// Calls `fn(r)`, `r` a task_ref to this task, through call_soon once the task is done;
    /// the same contract as task_handle::add_done_callback (`fn` takes a task_ref). For a set
    /// of tasks of mixed result types, as asyncio's `background_tasks` idiom keeps. Throws
    /// eddy::invalid_state_error for an empty task_ref, eddy::loop_error with no loop running or
    /// open on this thread.
    template <class F>
    requires std::is_invocable_v<F&, task_ref&>
    void add_done_callback(F fn) {
        if (p_ == nullptr) {
            throw invalid_state_error("eddy::task_ref: add_done_callback() on an empty task_ref");
        }
        detail::add_done_callback<task_ref>(p_, std::move(fn));
    }
    /// True when both refer to the same task (or both are empty). A task_handle converts, so a
    /// handle compares equal to a task_ref of its task.
    friend bool operator==(const task_ref& a, const task_ref& b) noexcept { return a.p_ == b.p_; }

    /// The task (eddy internal).
    [[nodiscard]] detail::task_base* get() const noexcept { return p_; }
    /// The task's shared state, null when empty (eddy internal: what wait and as_completed
    /// wait on).
    [[nodiscard]] detail::task_base* state() const noexcept { return p_; }

  private:
    detail::task_base* p_ = nullptr;
};

/// The task running now (asyncio.current_task()); empty when called from a plain callback.
/// Throws eddy::loop_error with no running loop.
[[nodiscard]] inline task_ref current_task() {
    return task_ref(get_running_loop().current_task());
}

/// Every unfinished task of the running loop, in creation order (asyncio.all_tasks()).
/// Throws eddy::loop_error with no running loop, std::bad_alloc.
[[nodiscard]] inline std::vector<task_ref> all_tasks() {
    std::vector<task_ref> out;
    get_running_loop().for_each_task([&](detail::task_base* t) { out.emplace_back(t); });
    return out;
}

/// One coroutine in a call graph: the function, and the line where it is suspended (its
/// latest co_await; for the current task's innermost coroutine, the capturing call).
struct frame_entry {
    std::string function;
    std::string file;
    std::uint_least32_t line = 0;
    bool started = true; // false: it never suspended yet (file/line give its definition)
};

/// An async call graph (asyncio.FutureCallGraph): a task, its chain of awaiting coroutines
/// from the innermost (where it waits or runs) to its outermost, and the graphs of the tasks
/// waiting for it to finish (through co_await on its handle, gather, wait or a task group).
struct call_graph {
    task_ref task;
    std::vector<frame_entry> call_stack;
    std::vector<call_graph> awaited_by;
};

namespace detail {
inline call_graph build_graph(task_base* t, const frame_record* running, code_location here,
                              std::vector<const task_base*>& seen) {
    call_graph g{task_ref(t), {}, {}};
    for (const frame_record* f : frames_of(*t)) {
        const code_location at = (f == running && here.known()) ? here : f->where_;
        const code_location shown = at.known() ? at : f->origin_;
        g.call_stack.push_back(
            frame_entry{f->origin_.function_name(), shown.file_name(), shown.line(), at.known()});
    }
    seen.push_back(t);
    t->for_each_waiting_task([&](task_base* by) {
        for (const task_base* s : seen) {
            if (s == by) {
                return; // tasks awaiting each other in a cycle
            }
        }
        g.awaited_by.push_back(build_graph(by, nullptr, {}, seen));
    });
    seen.pop_back();
    return g;
}

inline void format_graph(std::string& out, const call_graph& g, const std::string& indent) {
    out += indent + "* " + task_title(*g.task.get()) + '\n';
    if (!g.call_stack.empty()) {
        out += indent + "+ Call stack:\n";
        for (const frame_entry& f : g.call_stack) {
            out += indent + "|   " + f.file + ':' + std::to_string(f.line) +
                   (f.started ? "" : " (not started)") + " in " + f.function + '\n';
        }
    }
    if (!g.awaited_by.empty()) {
        out += indent + "+ Awaited by:\n";
        for (const call_graph& by : g.awaited_by) {
            format_graph(out, by, indent + "   ");
        }
    }
}
} // namespace detail

/// The call graph of `t` (asyncio.capture_call_graph). Throws eddy::invalid_state_error for an
/// empty task_ref, std::bad_alloc. A finished task has an empty call stack.
[[nodiscard]] inline call_graph capture_call_graph(const task_ref& t) {
    if (!t.valid()) {
        throw invalid_state_error("eddy::capture_call_graph: empty task_ref");
    }
    std::vector<const detail::task_base*> seen;
    if (t.done()) {
        return call_graph{t, {}, {}};
    }
    return detail::build_graph(t.get(), nullptr, {}, seen);
}

/// The call graph of the task running now; its innermost coroutine is shown at `here` (the
/// caller's line). Throws eddy::loop_error outside a running loop, eddy::invalid_state_error
/// outside a task (in a plain callback), std::bad_alloc.
[[nodiscard]] inline call_graph capture_call_graph(code_location here = code_location::current()) {
    detail::task_base* t = get_running_loop().current_task();
    if (t == nullptr) {
        throw invalid_state_error("eddy::capture_call_graph: not called from a task");
    }
    std::vector<const detail::task_base*> seen;
    return detail::build_graph(t, &t->root_frame().innermost(), here, seen);
}

/// The graph as text, in asyncio's layout: "* task 'name'", then "+ Call stack:" with one
/// "|   file:line in function" per coroutine, innermost first, then "+ Awaited by:" with the
/// waiting tasks' graphs indented. Throws std::bad_alloc.
[[nodiscard]] inline std::string format_call_graph(const call_graph& g) {
    std::string out;
    detail::format_graph(out, g, "");
    return out;
}

/// Prints the current task's call graph on `out` (asyncio.print_call_graph). Same errors as
/// capture_call_graph().
inline void print_call_graph(std::FILE* out = stdout,
                             code_location here = code_location::current()) {
    const std::string s = format_call_graph(capture_call_graph(here));
    std::fputs(s.c_str(), out);
}

/// Prints the call graph of `t` on `out`. Same errors as capture_call_graph(t).
inline void print_call_graph(const task_ref& t, std::FILE* out = stdout) {
    const std::string s = format_call_graph(capture_call_graph(t));
    std::fputs(s.c_str(), out);
}

} // namespace eddy

/// Hashes a task_ref by its task, alike a task_handle to the same task (std::hash of either).
template <> struct std::hash<eddy::task_ref> {
    std::size_t operator()(const eddy::task_ref& r) const noexcept {
        return std::hash<const void*>{}(r.get());
    }
};
