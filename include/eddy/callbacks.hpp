// eddy — call_soon, call_later, call_at: plain callbacks on the loop, each cancellable.
#pragma once

#include "eddy/context_var.hpp"
#include "eddy/detail/context.hpp"
#include "eddy/detail/frame_allocator.hpp"
#include "eddy/loop.hpp"
#include "eddy/sleep.hpp"

#include <chrono>
#include <type_traits>
#include <utility>

namespace eddy {
namespace detail {
template <class F> struct callback_impl final : callback_node, pooled {
    explicit callback_impl(F&& f) : fn_(std::move(f)) {
        invoke_ = [](callback_node* n) { static_cast<callback_impl*>(n)->fn_(); };
        destroy_ = [](callback_node* n) noexcept { delete static_cast<callback_impl*>(n); };
    }
    F fn_;
};
} // namespace detail

/// A scheduled callback (asyncio's Handle / TimerHandle). Move-only; dropping it does not
/// cancel the callback.
class callback_handle {
  public:
    callback_handle() noexcept = default;
    /// Adopts one reference to `n` (eddy internal; use call_soon/call_later/call_at).
    explicit callback_handle(detail::callback_node* n) noexcept : n_(n) {} // adopts a reference
    /// Moves the handle; `o` becomes empty.
    callback_handle(callback_handle&& o) noexcept : n_(std::exchange(o.n_, nullptr)) {}
    callback_handle& operator=(callback_handle&& o) noexcept {
        std::swap(n_, o.n_);
        return *this;
    }
    callback_handle(const callback_handle&) = delete;
    callback_handle& operator=(const callback_handle&) = delete;
    ~callback_handle() {
        if (n_ != nullptr) {
            n_->release();
        }
    }

    /// Prevents the callback from running. Returns false if it already ran or was cancelled.
    bool cancel() noexcept {
        if (n_ == nullptr || n_->finished_ || n_->cancelled_) {
            return false;
        }
        n_->cancelled_ = true;
        if (n_->timer_.armed() && n_->loop_->remove_timer(n_->timer_)) {
            // A timer leaves the store now rather than at its deadline.
            n_->finished_ = true;
            n_->unlink();
            n_->release();
        }
        return true;
    }
    /// True once cancel() succeeded.
    [[nodiscard]] bool cancelled() const noexcept { return n_ != nullptr && n_->cancelled_; }
    /// True once the callback has run (or was dropped by the loop's shutdown).
    [[nodiscard]] bool done() const noexcept { return n_ != nullptr && n_->finished_; }

  private:
    detail::callback_node* n_ = nullptr;
};

namespace detail {
/// `context`: one reference the node takes over, the context the callback runs in.
template <class F> callback_node* make_callback(event_loop& loop, F&& f, context_data* context) {
    using fn_t = std::decay_t<F>;
    callback_impl<fn_t>* n = nullptr;
    try {
        n = new callback_impl<fn_t>(fn_t(std::forward<F>(f)));
    } catch (...) {
        context_release(context);
        throw;
    }
    n->context_ = context;
    n->loop_ = &loop;
    n->refs_ = 2; // the loop's and the handle's
    loop.track(*n);
    return n;
}

/// Runs `f()` on a later turn of `loop` (running or not: between an eddy::runner's runs it
/// waits for the next), in `context` (one reference, taken over), with no handle to cancel it.
/// Throws std::bad_alloc (releasing `context`).
template <class F> void post_callback(event_loop& loop, F&& f, context_data* context) {
    callback_node* n = make_callback(loop, std::forward<F>(f), context);
    loop.post(*n);
    n->release(); // no handle: the loop's reference is the only one
}
} // namespace detail

/// Runs `f()` on a later turn of the running loop, after what is already ready (FIFO).
/// Exceptions escaping `f` are reported on stderr and do not stop the loop. Throws
/// eddy::loop_error with no running loop. The callable is moved into a pooled node. `f` runs
/// in a copy of the current context (asyncio's Handle): it sees the context_var values of
/// the code that scheduled it, and what it sets stays in its own copy. So do call_at's and
/// call_later's.
template <class F>
requires std::is_invocable_v < std::decay_t<F>
& > callback_handle call_soon(F&& f) {
    event_loop& loop = get_running_loop();
    detail::callback_node* n = detail::make_callback(
        loop, std::forward<F>(f), detail::context_share(detail::current_context_slot()));
    loop.post(*n);
    return callback_handle(n);
}

/// Runs `f()` once the loop clock reaches `when`; callbacks with equal deadlines run in the
/// order they were scheduled.
template <class F>
requires std::is_invocable_v < std::decay_t<F>
& > callback_handle call_at(clock::time_point when, F&& f) {
    event_loop& loop = get_running_loop();
    detail::callback_node* n = detail::make_callback(
        loop, std::forward<F>(f), detail::context_share(detail::current_context_slot()));
    loop.post_at(
        *n, std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count());
    return callback_handle(n);
}

/// Runs `f()` after `delay` on the loop clock. A delay too long for the clock (hours::max(),
/// +infinity) means never; a negative one, or NaN, means at once (on the next turn).
template <class Rep, class Period, class F>
requires std::is_invocable_v < std::decay_t<F>
& > callback_handle call_later(std::chrono::duration<Rep, Period> delay, F&& f) {
    event_loop& loop = get_running_loop();
    const std::int64_t d = detail::saturated_ns(delay);
    const std::int64_t now = loop.now_ns();
    const std::int64_t when = d > INT64_MAX - now ? INT64_MAX : now + d; // now >= 0: no underflow
    detail::callback_node* n = detail::make_callback(
        loop, std::forward<F>(f), detail::context_share(detail::current_context_slot()));
    loop.post_at(*n, when);
    return callback_handle(n);
}

} // namespace eddy
