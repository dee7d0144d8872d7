// eddy — create_task: schedule a coroutine on the running loop; task_handle: its shared handle.
#pragma once

#include "eddy/detail/frame_allocator.hpp"
#include "eddy/detail/state_awaiter.hpp"
#include "eddy/detail/task_base.hpp"
#include "eddy/errors.hpp"
#include "eddy/loop.hpp"
#include "eddy/task.hpp"

#include <concepts>
#include <coroutine>
#include <exception>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>

namespace eddy {

template <class T> class task_handle;

namespace detail {

template <class T> struct root_promise;

template <class T> struct root_coro {
    using promise_type = root_promise<T>;
    std::coroutine_handle<promise_type> h;
};

template <class T> struct root_return {
    template <class U> void return_value(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
        value_.emplace(std::forward<U>(v));
    }
    result_slot<T> value_;
};
template <class T> struct root_return<T&> {
    void return_value(T& v) noexcept { value_.emplace(v); }
    result_slot<T&> value_;
};
template <> struct root_return<void> {
    void return_void() const noexcept {}
    result_slot<void> value_;
};

/// The promise of a scheduled task's outer coroutine. It is the task's shared state, living
/// in the coroutine frame; the frame stays after the coroutine finishes until the last handle
/// lets go.
template <class T> struct root_promise final : task_base, root_return<T>, pooled {
    struct final_awaiter {
        [[nodiscard]] bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<root_promise> h) const noexcept {
            h.promise().finish();
        }
        void await_resume() const noexcept {}
    };

    root_coro<T> get_return_object() noexcept {
        return {std::coroutine_handle<root_promise>::from_promise(*this)};
    }
    [[nodiscard]] std::suspend_always initial_suspend() const noexcept { return {}; }
    [[nodiscard]] final_awaiter final_suspend() const noexcept { return {}; }
    void unhandled_exception() noexcept {
        error_ = std::current_exception();
        try {
            throw;
        } catch (const cancelled_error&) {
            end_ = status::cancelled;
        } catch (...) { // NOLINT(bugprone-empty-catch): any other failure is stored as is
        }
    }

    void finish() noexcept {
        loop_->unregister_task(*this);
        complete(end_, std::move(error_));
        release(); // the running reference; may destroy this frame
    }

    void destroy() noexcept override {
        std::coroutine_handle<root_promise>::from_promise(*this).destroy();
    }

    void start(event_loop& loop, std::string name) {
        loop_ = &loop;
        name_ = std::move(name);
        loop.register_task(*this);
        loop.schedule(std::coroutine_handle<root_promise>::from_promise(*this), this);
    }

    event_loop* loop_ = nullptr;
    std::exception_ptr error_;
    status end_ = status::finished;
};

/// Delivers a cancellation requested before the task's first step, as asyncio throws
/// CancelledError into a task cancelled before it started.
inline void throw_if_cancel_pending() {
    task_base* t = get_running_loop().current_task();
    if (t != nullptr && t->take_pending_cancel()) {
        throw cancelled_error(t->cancel_message());
    }
}

template <class T> root_coro<T> make_root(task<T> t) {
    throw_if_cancel_pending();
    if constexpr (std::is_void_v<T>) {
        co_await std::move(t);
    } else {
        co_return co_await std::move(t);
    }
}

/// Keeps a callable (a capturing lambda) alive in the coroutine frame for as long as the
/// coroutine it returns runs: a temporary lambda would die at the first suspension.
template <class F, class R = typename std::invoke_result_t<F&>::value_type>
task<R> invoke_owned(F f) {
    if constexpr (std::is_void_v<R>) {
        co_await f();
    } else {
        co_return co_await f();
    }
}

template <class T> struct is_task : std::false_type {};
template <class T> struct is_task<task<T>> : std::true_type {};

} // namespace detail

/// A scheduled task (asyncio.Task): a shared, copyable handle to a coroutine running on a loop.
///
/// Ownership: the loop keeps the task running whether or not handles exist; dropping every
/// handle does not stop it (use cancel()). The task's state (and frame) lives until it has
/// finished and the last handle is gone. A failure nobody retrieved (by awaiting, result() or
/// exception()) is reported on stderr when the state is destroyed.
template <class T> class task_handle {
  public:
    using value_type = T;

    task_handle() noexcept = default;
    explicit task_handle(detail::root_promise<T>* p) noexcept : p_(p) {} // adopts a reference
    task_handle(const task_handle& o) noexcept : p_(o.p_) {
        if (p_ != nullptr) {
            p_->add_ref();
        }
    }
    task_handle(task_handle&& o) noexcept : p_(std::exchange(o.p_, nullptr)) {}
    task_handle& operator=(task_handle o) noexcept {
        std::swap(p_, o.p_);
        return *this;
    }
    ~task_handle() {
        if (p_ != nullptr) {
            p_->release();
        }
    }

    [[nodiscard]] bool valid() const noexcept { return p_ != nullptr; }
    /// True once the task has finished: returned, failed or was cancelled.
    [[nodiscard]] bool done() const noexcept { return p_->done(); }
    /// True when the task finished by cancellation (cancelled_error left its coroutine).
    [[nodiscard]] bool cancelled() const noexcept { return p_->cancelled(); }
    /// The name given to create_task (empty when none).
    [[nodiscard]] const std::string& name() const noexcept { return p_->name(); }

    /// Requests cancellation; see detail::task_base::cancel. Returns false if already done.
    bool cancel(std::string message = {}) { return p_->cancel(std::move(message)); }
    /// Pending cancellation requests (asyncio's cancelling()).
    [[nodiscard]] int cancelling() const noexcept { return p_->cancelling(); }
    /// Withdraws one cancellation request; returns how many remain (asyncio's uncancel()).
    int uncancel() noexcept { return p_->uncancel(); }

    /// The task's value. Throws eddy::invalid_state_error if it has not finished, the task's
    /// exception if it failed, eddy::cancelled_error if it was cancelled.
    decltype(auto) result() const {
        if (!p_->done()) {
            throw invalid_state_error("eddy: result() of a task that has not finished");
        }
        p_->rethrow_if_failed();
        if constexpr (!std::is_void_v<T>) {
            return static_cast<T&>(p_->value_.get());
        }
    }
    /// The task's exception (null if it returned a value). Throws eddy::invalid_state_error if
    /// it has not finished, eddy::cancelled_error if it was cancelled.
    [[nodiscard]] std::exception_ptr exception() const { return p_->exception(); }

    /// Waits for the task; yields T& (lvalue handle) and rethrows its failure. Cancelling the
    /// awaiting task cancels this one too (asyncio semantics).
    [[nodiscard]] auto operator co_await() & noexcept {
        return detail::state_awaiter<T, false>{p_, &p_->value_};
    }
    /// As above, yielding T by value: moved out when this is the last handle, else copied.
    [[nodiscard]] auto operator co_await() && noexcept {
        return detail::state_awaiter<T, true>{p_, &p_->value_};
    }

    /// The shared state (for gather and other combinators).
    [[nodiscard]] detail::root_promise<T>* state() const noexcept { return p_; }

  private:
    detail::root_promise<T>* p_ = nullptr;
};

/// Schedules `t` on the running loop (asyncio.create_task): it starts on a later loop turn even
/// if nobody awaits it. Returns a handle to await, inspect or cancel it. Throws
/// eddy::loop_error with no running loop, eddy::invalid_state_error for an empty task.
template <class T> [[nodiscard]] task_handle<T> create_task(task<T> t, std::string name = {}) {
    event_loop& loop = get_running_loop();
    if (!t.valid()) {
        throw invalid_state_error("eddy::create_task: empty task");
    }
    detail::root_coro<T> root = detail::make_root(std::move(t));
    detail::root_promise<T>& p = root.h.promise();
    p.add_ref(); // one reference for the running coroutine, one for the handle
    task_handle<T> handle(&p);
    p.start(loop, std::move(name));
    return handle;
}

/// Schedules a callable returning task<R> (typically a capturing lambda), moved into the task's
/// frame so its captures live as long as the task. Prefer this over
/// `create_task(lambda())`, whose temporary lambda (and captures) dies at the end of the statement.
template <class F>
requires std::invocable<F&> && detail::is_task<std::invoke_result_t<F&>>::value [[nodiscard]] auto
create_task(F f, std::string name = {}) {
    return create_task(detail::invoke_owned(std::move(f)), std::move(name));
}

/// The handle of nothing: a task's own state is reached through its handle; inside a task,
/// `current_task_name()` names the running one. Returns "" outside tasks.
[[nodiscard]] inline std::string current_task_name() {
    detail::task_base* t = get_running_loop().current_task();
    return t != nullptr ? t->name() : std::string();
}

} // namespace eddy
