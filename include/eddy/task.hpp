// eddy — task<T>: a lazy coroutine, started by co_await, yielding its result or exception.
#pragma once

#include "eddy/code_location.hpp"
#include "eddy/concepts.hpp"
#include "eddy/detail/frame_allocator.hpp"
#include "eddy/detail/frames.hpp"
#include "eddy/detail/future_base.hpp"
#include "eddy/errors.hpp"
#include "eddy/loop.hpp"

#include <coroutine>
#include <cstdint>
#include <exception>
#include <type_traits>
#include <utility>

namespace eddy {

template <class T = void> class task;

namespace detail {

/// The place a promise is made, which is its coroutine's definition. A type of its own, not
/// code_location: a promise constructor is tried with the coroutine's own arguments first, and
/// a coroutine taking a code_location would otherwise hand it over as the origin.
struct promise_origin {
    code_location where;
    [[nodiscard]] static constexpr promise_origin
    current(code_location w = code_location::current()) noexcept {
        return promise_origin{w};
    }
};

/// What a task's await_transform hands to co_await: the awaiter of the awaited object, by value
/// when its operator co_await made one, else by reference to the object itself. Returning the
/// object itself (A&&) does not work: g++ 12 then copies the awaiter into the frame, and eddy's
/// awaiters (intrusive list nodes) are not movable.
template <class Aw> struct [[nodiscard]] located_awaiter {
    Aw aw_;

    [[nodiscard]] bool await_ready() noexcept(noexcept(aw_.await_ready())) {
        return aw_.await_ready();
    }
    template <class P>
    decltype(auto)
    await_suspend(std::coroutine_handle<P> h) noexcept(noexcept(aw_.await_suspend(h))) {
        return aw_.await_suspend(h);
    }
    decltype(auto) await_resume() noexcept(noexcept(aw_.await_resume())) {
        return aw_.await_resume();
    }
};

struct task_promise_base : pooled, frame_record {
    struct final_awaiter {
        [[nodiscard]] bool await_ready() const noexcept { return false; }
        template <class P>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<P> h) noexcept {
            task_promise_base& p = h.promise();
            p.detach();
            if (task_base* root = p.root(); root != nullptr) {
                // The outermost coroutine of a scheduled task: its state takes over (and may
                // destroy this frame, which is allowed now that it is suspended).
                if (!root->follow_on_when_done_) [[unlikely]] {
                    // eddy::run's main task: the loop stops here; a task main created in its
                    // last step must not start in this turn's follow-on, nor in shutdown.
                    if (running_loop_ != nullptr) {
                        running_loop_->stop_follow_on();
                    }
                }
                root->on_coroutine_done();
                return std::noop_coroutine();
            }
            const std::coroutine_handle<> next = p.continuation();
            return next ? transfer_to(next) : std::noop_coroutine();
        }
        void await_resume() const noexcept {}
    };

    /// A task starts suspended. A scheduled task's first step delivers a cancellation that
    /// came before it: cancelled_error from here reaches unhandled_exception() (the initial
    /// await_resume is inside the coroutine's try block), so the body never runs, as asyncio
    /// throws CancelledError into a task at its first step.
    struct [[nodiscard]] initial_awaiter {
        task_promise_base* p_;
        [[nodiscard]] bool await_ready() const noexcept { return false; }
        void await_suspend(std::coroutine_handle<> /*unused*/) const noexcept {}
        void await_resume() const {
            if (task_base* root = p_->root(); root != nullptr && root->take_pending_cancel())
                [[unlikely]] {
                throw_cancelled(*root);
            }
        }
        [[noreturn, gnu::noinline]] static void throw_cancelled(const task_base& t) {
            throw cancelled_error(t.cancel_message());
        }
    };

    explicit task_promise_base(code_location origin) noexcept : frame_record(origin) {}
    [[nodiscard]] initial_awaiter initial_suspend() noexcept { return {this}; }
    /// Records where the coroutine suspends (call graphs, debug reports), then awaits `a` as
    /// co_await would. `where` defaults to the co_await's own line.
    template <class A>
    [[nodiscard]] auto await_transform(A&& a, code_location where = code_location::current()) {
        if constexpr (has_await_ready<A>) {
            where_ = where;
            return located_awaiter<decltype(get_awaiter(static_cast<A&&>(a)))>{
                get_awaiter(static_cast<A&&>(a))};
        } else {
            // One readable error instead of a page of them from inside located_awaiter.
            if constexpr (std::is_function_v<std::remove_reference_t<A>>) {
                static_assert(has_await_ready<A>, "eddy: co_await of a function: call it "
                                                  "(co_await f(), not co_await f)");
            } else {
                static_assert(has_await_ready<A>,
                              "eddy: co_await needs an awaitable: a task, task_handle or future, "
                              "an eddy operation, or a type with await_ready, await_suspend and "
                              "await_resume (or an operator co_await returning one)");
            }
            return std::suspend_never{};
        }
    }
    [[nodiscard]] final_awaiter final_suspend() const noexcept { return {}; }
    void unhandled_exception() noexcept { exception_ = std::current_exception(); }

    /// The coroutine awaiting this one (null when none).
    [[nodiscard]] std::coroutine_handle<> continuation() const noexcept {
        return (next_ & root_tag) != 0
                   ? std::coroutine_handle<>()
                   // NOLINTNEXTLINE(performance-no-int-to-ptr): a tagged word, by design
                   : std::coroutine_handle<>::from_address(reinterpret_cast<void*>(next_));
    }
    /// Makes `h` the coroutine resumed when this one finishes (task's awaiter, once).
    void set_continuation(std::coroutine_handle<> h) noexcept {
        next_ = reinterpret_cast<std::uintptr_t>(h.address());
    }
    /// The scheduled task whose outermost coroutine this is (null when it is not one).
    [[nodiscard]] task_base* root() const noexcept {
        // NOLINTNEXTLINE(performance-no-int-to-ptr): a tagged word, by design (see next_)
        return (next_ & root_tag) != 0 ? reinterpret_cast<task_base*>(next_ & ~root_tag) : nullptr;
    }
    /// Makes this coroutine the outermost one of `t`, which takes over at its end (task_state).
    void set_root(task_base* t) noexcept { next_ = reinterpret_cast<std::uintptr_t>(t) | root_tag; }
    /// True once the coroutine is awaited or scheduled: it can be neither again.
    [[nodiscard]] bool claimed() const noexcept { return next_ != 0; }

    std::exception_ptr exception_;

  private:
    // Who takes over when the coroutine finishes: the coroutine awaiting it, or (tagged) the
    // scheduled task it is the outermost coroutine of. Never both, so one word holds either:
    // 8 bytes less in every task's frame. Frames and task states are at least 8-byte aligned.
    static constexpr std::uintptr_t root_tag = 1;
    std::uintptr_t next_ = 0;
};

template <class T> struct task_promise final : task_promise_base {
    /// `origin` defaults to the coroutine's definition (the promise is made inside it).
    explicit task_promise(promise_origin origin = promise_origin::current()) noexcept
        : task_promise_base(origin.where) {}
    task<T> get_return_object() noexcept;
    // U defaults to T so that a braced list converts (`co_return {1, 2};`, `co_return {};`).
    template <class U = T>
    requires std::is_convertible_v<U&&, T>
    void return_value(U&& v) noexcept(std::is_nothrow_constructible_v<T, U&&>) {
        value_.emplace(std::forward<U>(v));
    }
    T& result() & {
        if (exception_) {
            std::rethrow_exception(exception_);
        }
        if (taken_) [[unlikely]] {
            throw_taken();
        }
        return value_.get();
    }
    /// The value for an rvalue await, which moves it out: later reads throw.
    T&& result() && {
        if (exception_) {
            std::rethrow_exception(exception_);
        }
        if (taken_) [[unlikely]] {
            throw_taken();
        }
        taken_ = true;
        return std::move(value_.get());
    }
    result_slot<T> value_;
    bool taken_ = false; // moved out by an rvalue await

  private:
    [[noreturn, gnu::noinline, gnu::cold]] static void throw_taken() {
        throw invalid_state_error("eddy::task: awaited again after an rvalue co_await moved its "
                                  "value out");
    }
};

template <class T> struct task_promise<T&> final : task_promise_base {
    explicit task_promise(promise_origin origin = promise_origin::current()) noexcept
        : task_promise_base(origin.where) {}
    task<T&> get_return_object() noexcept;
    void return_value(T& v) noexcept { value_.emplace(v); }
    // A task<const X&> must not return a temporary: the reference would dangle at once.
    void return_value(std::remove_const_t<T>&&) = delete;
    T& result() {
        if (exception_) {
            std::rethrow_exception(exception_);
        }
        return value_.get();
    }
    result_slot<T&> value_;
};

template <> struct task_promise<void> final : task_promise_base {
    explicit task_promise(promise_origin origin = promise_origin::current()) noexcept
        : task_promise_base(origin.where) {}
    task<void> get_return_object() noexcept;
    void return_void() const noexcept {}
    void result() const {
        if (exception_) {
            std::rethrow_exception(exception_);
        }
    }
    result_slot<void> value_;
};

static_assert(noexcept(std::declval<task_promise_base&>().final_suspend()));
static_assert(noexcept(std::declval<task_promise_base::final_awaiter&>().await_suspend(
    std::coroutine_handle<task_promise<void>>{})));
static_assert(noexcept(std::declval<task_promise_base&>().unhandled_exception()));

} // namespace detail

/// A lazy coroutine returning T (asyncio's coroutine object). Nothing runs until it is awaited:
/// `co_await t` starts it in the awaiting task and yields its value or rethrows its exception.
/// To run it concurrently, hand it to `create_task` or `gather`.
///
/// Ownership: move-only; the task owns its coroutine frame, so destroying a task that never
/// started destroys the frame and the arguments it captured. A task runs once; awaiting an
/// lvalue task again after it finished yields the same result, but an rvalue await
/// (`co_await std::move(t)`, `co_await f()`) moves the value out, and a later await of that
/// task throws eddy::invalid_state_error. Frames come from eddy's per-thread recycling
/// allocator.
template <class T> class [[nodiscard]] task {
  public:
    /// The coroutine promise: makes a function returning task<T> a coroutine.
    using promise_type = detail::task_promise<T>;
    /// The coroutine's result type (what it co_returns).
    using value_type = T;
    /// The coroutine handle the task owns (see handle()).
    using handle_type = std::coroutine_handle<promise_type>;

    task() noexcept = default;
    /// Takes ownership of the coroutine `h` (used by the promise).
    explicit task(handle_type h) noexcept : h_(h) {}
    /// Moves the coroutine; `other` becomes empty.
    task(task&& other) noexcept : h_(std::exchange(other.h_, {})) {}
    task& operator=(task&& other) noexcept {
        if (this != &other) {
            if (h_) {
                if (!h_.done()) [[unlikely]] {
                    report_if_never_started();
                }
                h_.destroy();
            }
            h_ = std::exchange(other.h_, {});
        }
        return *this;
    }
    task(const task&) = delete;
    task& operator=(const task&) = delete;
    ~task() {
        if (h_) {
            if (!h_.done()) [[unlikely]] {
                report_if_never_started();
            }
            h_.destroy();
        }
    }

    /// True when the coroutine has run to its end (its result or exception is available).
    [[nodiscard]] bool done() const noexcept { return h_ && h_.done(); }
    /// True when this object holds a coroutine (false after a move).
    [[nodiscard]] bool valid() const noexcept { return static_cast<bool>(h_); }
    /// The coroutine (for eddy's scheduler; the task keeps owning it).
    [[nodiscard]] handle_type handle() const noexcept { return h_; }

    /// Awaiting an lvalue task yields T& (the value stays in the frame this task owns).
    /// Throws: the coroutine's exception; eddy::invalid_state_error for an empty task or one
    /// already being awaited elsewhere.
    [[nodiscard]] auto operator co_await() & noexcept { return awaiter<false>{h_}; }
    /// Awaiting an rvalue task yields T by value, moved out of the frame (awaiting it again
    /// throws eddy::invalid_state_error).
    [[nodiscard]] auto operator co_await() && noexcept { return awaiter<true>{h_}; }

  private:
    // Debug mode: asyncio's "coroutine ... was never awaited". Out of line: a finished task's
    // destructor (the common case) stays small enough to inline.
    [[gnu::noinline]] void report_if_never_started() const noexcept {
        if (detail::running_loop_ == nullptr || !detail::running_loop_->debug()) {
            return;
        }
        const detail::task_promise_base& p = h_.promise();
        if (!p.claimed()) {
            detail::report_never_awaited(p.origin_, detail::running_loop_->current_task());
        }
    }

    template <bool Move> struct [[nodiscard]] awaiter {
        handle_type h_;

        [[nodiscard]] bool await_ready() const noexcept { return !h_ || h_.done(); }
        template <class P>
        std::coroutine_handle<> await_suspend(std::coroutine_handle<P> awaiting) {
            if (h_.promise().claimed()) {
                throw invalid_state_error("eddy::task awaited while already running");
            }
            h_.promise().set_continuation(awaiting);
            if constexpr (std::is_base_of_v<detail::task_promise_base, P>) {
                // The call graph follows task coroutines down from the task's outermost one.
                awaiting.promise().adopt(h_.promise());
            }
            return detail::transfer_to(h_);
        }
        // NOLINTNEXTLINE(modernize-use-nodiscard): void when T is void
        decltype(auto) await_resume() const {
            if (!h_) {
                throw invalid_state_error("eddy::task: awaiting an empty task");
            }
            if constexpr (Move && !std::is_reference_v<T> && !std::is_void_v<T>) {
                // By value: the task temporary in `co_await f()` dies at the end of the full
                // expression, and a T&& into its frame would dangle (range-for over it does).
                return T(std::move(h_.promise()).result());
            } else {
                return h_.promise().result();
            }
        }
    };

    handle_type h_;
};

namespace detail {
template <class T> task<T> task_promise<T>::get_return_object() noexcept {
    return task<T>{std::coroutine_handle<task_promise<T>>::from_promise(*this)};
}
template <class T> task<T&> task_promise<T&>::get_return_object() noexcept {
    return task<T&>{std::coroutine_handle<task_promise<T&>>::from_promise(*this)};
}
inline task<void> task_promise<void>::get_return_object() noexcept {
    return task<void>{std::coroutine_handle<task_promise<void>>::from_promise(*this)};
}
} // namespace detail

} // namespace eddy
