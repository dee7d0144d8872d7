// eddy — timeout, timeout_at and wait_for: deadlines that cancel the work they cover.
#pragma once

#include "eddy/create_task.hpp"
#include "eddy/detail/body.hpp"
#include "eddy/detail/timer_heap.hpp"
#include "eddy/errors.hpp"
#include "eddy/future.hpp"
#include "eddy/loop.hpp"
#include "eddy/sleep.hpp"
#include "eddy/task.hpp"
#include "eddy/wait.hpp"

#include <chrono>
#include <cstdint>
#include <exception>
#include <optional>
#include <span>
#include <type_traits>
#include <utility>

namespace eddy {

/// A deadline covering a body of work run by the current task (asyncio.Timeout, what
/// `asyncio.timeout()` returns). Made by `eddy::timeout` / `eddy::timeout_at`; entered by
/// awaiting `scope(body)`. When the deadline passes, the task running the body is cancelled
/// (whatever it awaits is cancelled and has finished cancelling before it resumes); when the
/// resulting cancelled_error leaves the body, the scope turns it into eddy::timeout_error. A
/// deadline already past when the scope is entered (or rescheduled) fires before any work that
/// becomes ready after that point runs, as asyncio's call_soon of the expiry does: the body
/// runs to its first suspension and is cancelled there.
///
/// A scope is entered at most once. It is immovable (the loop's timer points into it) and must
/// outlive the await of `scope(body)`, which a local variable or a temporary in the co_await
/// expression both do.
class timeout_scope {
  public:
    /// A scope whose deadline is `when_ns` on the loop clock, in nanoseconds (none: never).
    explicit timeout_scope(std::optional<std::int64_t> when_ns) noexcept : when_(when_ns) {
        timer_.owner_ = this;
        timer_.fire_ = &on_fire;
    }
    timeout_scope(const timeout_scope&) = delete;
    timeout_scope& operator=(const timeout_scope&) = delete;
    ~timeout_scope() { disarm(); }

    /// The deadline (none when the scope never expires).
    [[nodiscard]] std::optional<clock::time_point> when() const noexcept {
        if (!when_) {
            return std::nullopt;
        }
        return clock::time_point(
            std::chrono::duration_cast<clock::duration>(std::chrono::nanoseconds(*when_)));
    }

    /// Moves the deadline (none: never expire). Only inside the body, before expiry; a deadline
    /// already past expires on the next loop turn. Throws eddy::invalid_state_error when the
    /// scope was not entered, has expired or was left; std::bad_alloc if the timer store
    /// cannot grow.
    void reschedule(std::optional<clock::time_point> when) {
        if (state_ != state::entered) {
            throw invalid_state_error(state_ == state::created
                                          ? "eddy::timeout_scope::reschedule: not entered"
                                          : "eddy::timeout_scope::reschedule: already expired "
                                            "or left");
        }
        disarm();
        when_.reset();
        if (when) {
            when_ = detail::saturated_ns(when->time_since_epoch());
            arm();
        }
    }

    /// True once the deadline has passed while the body ran (asyncio's expired()).
    [[nodiscard]] bool expired() const noexcept {
        return state_ == state::expiring || state_ == state::expired;
    }

    /// Runs `body` in the current task under this deadline and yields its result (asyncio's
    /// `async with timeout: return await body`). `body` is a task<T>, a task_handle<T> or
    /// future<T> (cancelled with the current task), a callable returning task<T> (kept in
    /// the frame while it runs, like create_task's), or an awaiter not yet awaited (`ev.wait()`,
    /// `q.get()`, `lk.acquire()`: a cancelled one withdraws and takes nothing). Throws:
    /// eddy::timeout_error when the deadline passed and the cancellation it caused left the body;
    /// cancelled_error when the task was (also) cancelled by someone else; what the body throws;
    /// eddy::invalid_state_error if the scope was already entered; eddy::loop_error outside a task.
    template <detail::body A> [[nodiscard]] task<detail::body_result_t<A>> operator()(A body) {
        using R = detail::body_result_t<A>;
        enter();
        detail::result_slot<R> result;
        try {
            if constexpr (std::is_void_v<R>) {
                co_await detail::start_body(body);
            } else {
                result.emplace(co_await detail::start_body(body));
            }
        } catch (const cancelled_error&) {
            if (leave(true)) {
                throw timeout_error();
            }
            throw;
        } catch (...) {
            leave(false);
            throw;
        }
        leave(false);
        co_return detail::take_result(result);
    }

    /// An lvalue future: yields T& into its state, which `f` keeps alive (a temporary future
    /// goes through the overload above and yields T).
    template <class T> [[nodiscard]] auto operator()(future<T>& f) {
        return (*this)(detail::future_lvalue<T>(f));
    }

  private:
    enum class state : std::uint8_t { created, entered, expiring, expired, left };
    struct timer : detail::timer_node {
        timeout_scope* owner_ = nullptr;
    };

    void enter() {
        if (state_ != state::created) {
            throw invalid_state_error("eddy::timeout_scope entered twice");
        }
        loop_ = &get_running_loop();
        task_ = loop_->current_task();
        if (task_ == nullptr) {
            throw loop_error("eddy::timeout: not inside a task");
        }
        state_ = state::entered;
        cancelling_ = task_->cancelling();
        if (when_) {
            arm();
        }
    }

    /// Ends the scope; true when its own expiry caused the cancellation that is leaving the
    /// body, which must then become timeout_error.
    bool leave(bool cancelled) noexcept {
        disarm();
        if (state_ == state::expiring) {
            state_ = state::expired;
            // Withdraw the request the deadline made. If none other is left, the cancellation
            // was ours alone (asyncio: uncancel() <= cancelling at entry).
            return task_->uncancel() <= cancelling_ && cancelled;
        }
        state_ = state::left;
        return false;
    }

    void arm() {
        timer_.deadline_ = *when_;
        loop_->add_timer(timer_);
        if (*when_ <= loop_->now_ns()) {
            loop_->end_follow_on(); // fires at this turn's end, not 64 steps later
        }
    }
    void disarm() noexcept {
        if (timer_.armed()) {
            if (!loop_->remove_timer(timer_)) {
                // Out of memory recording the removal: the timer stays in the store pointing at
                // this scope, which is about to go away.
                std::terminate();
            }
        }
    }

    static void on_fire(detail::timer_node* t) noexcept {
        timeout_scope* self = static_cast<timer*>(t)->owner_;
        self->state_ = state::expiring;
        try {
            (void)self->task_->cancel({});
        } catch (...) {
            std::terminate(); // an empty message is never copied: unreachable
        }
    }

    timer timer_;
    std::optional<std::int64_t> when_;
    event_loop* loop_ = nullptr;
    detail::task_base* task_ = nullptr;
    int cancelling_ = 0;
    state state_ = state::created;
};

/// A deadline `delay` from now (asyncio.timeout(delay)): `co_await eddy::timeout(2s)(body)`,
/// or keep the scope in a variable to reschedule it or ask whether it expired. A zero or
/// negative delay expires on the next loop turn. Allocates nothing itself.
template <class Rep, class Period>
[[nodiscard]] timeout_scope timeout(std::chrono::duration<Rep, Period> delay) noexcept {
    const std::int64_t now = detail::loop_now_ns();
    const std::int64_t d = detail::saturated_ns(delay);
    return timeout_scope(d > INT64_MAX - now ? INT64_MAX : now + d);
}

/// A deadline at `when` on the loop clock (asyncio.timeout_at); none: a scope that never
/// expires until rescheduled.
[[nodiscard]] inline timeout_scope timeout_at(std::optional<clock::time_point> when) noexcept {
    if (!when) {
        return timeout_scope(std::nullopt);
    }
    return timeout_scope(detail::saturated_ns(when->time_since_epoch()));
}

/// Awaits `aw` for at most `timeout` (asyncio.wait_for) and yields its result. When the time is
/// up, the work is cancelled, and eddy::timeout_error is thrown once it has finished
/// cancelling (a task that refuses its cancellation and returns a value yields that value).
/// `aw` is what timeout_scope's operator() accepts. A zero or negative timeout never starts a
/// task<T> or callable body; a task_handle<T> or future<T> already done yields its result; a
/// gather yields its result when every child is done, else cancels them and, once they have
/// finished, throws timeout_error (asyncio.wait_for(gather(...), 0)).
/// Throws eddy::timeout_error, cancelled_error (the caller was cancelled), or what `aw` throws.
template <detail::body A, class Rep, class Period>
[[nodiscard]] task<detail::body_result_t<A>> wait_for(A aw,
                                                      std::chrono::duration<Rep, Period> timeout);

/// wait_for of an lvalue future: yields T& into its state, which `f` keeps alive, as
/// `co_await f` does (a temporary future goes through the overload above and yields T).
template <class T, class Rep, class Period>
[[nodiscard]] auto wait_for(future<T>& f, std::chrono::duration<Rep, Period> timeout) {
    return wait_for(detail::future_lvalue<T>(f), timeout);
}

template <detail::body A, class Rep, class Period>
[[nodiscard]] task<detail::body_result_t<A>> wait_for(A aw,
                                                      std::chrono::duration<Rep, Period> timeout) {
    if (timeout <= timeout.zero()) {
        // asyncio.wait_for(fut, 0): a done future's result, else cancel it, wait, TimeoutError.
        if constexpr (requires {
                          aw.done();
                          aw.cancel();
                          aw.state();
                      }) {
            if (!aw.done()) {
                aw.cancel();
                // Wait for it to finish cancelling. A cancellation of the caller meanwhile
                // propagates as cancelled_error (asyncio's _cancel_and_wait).
                detail::future_base* state = aw.state();
                (void)co_await detail::wait_states(std::span(&state, 1), return_when::all_completed,
                                                   std::nullopt);
                if (aw.cancelled()) {
                    throw timeout_error();
                }
            }
            co_return co_await std::move(aw); // done: its value (it refused), or its failure
        } else if constexpr (!detail::started_work<A>) {
            throw timeout_error();
        }
        // A gather: asyncio cancels it (its children) and waits, unless they are all done;
        // the expired scope below does both.
    }
    timeout_scope scope = eddy::timeout(timeout);
    co_return co_await scope(std::move(aw));
}

} // namespace eddy
