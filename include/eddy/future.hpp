// eddy — future<T>: a one-shot result slot that any number of coroutines can await.
#pragma once

#include "eddy/callbacks.hpp"
#include "eddy/detail/frame_allocator.hpp"
#include "eddy/detail/future_base.hpp"
#include "eddy/detail/state_awaiter.hpp"
#include "eddy/errors.hpp"

#include <cstdio>
#include <exception>
#include <string>
#include <type_traits>
#include <utility>

namespace eddy {
namespace detail {
template <class T> class future_state final : public future_base, public pooled {
  public:
    result_slot<T> value_;
    [[nodiscard]] result_slot<T>& slot() noexcept { return value_; }

    bool cancel(std::string message) override {
        if (done()) {
            return false;
        }
        complete(status::cancelled, std::make_exception_ptr(cancelled_error(std::move(message))));
        return true;
    }
    void set_exception(std::exception_ptr e) noexcept { complete(status::finished, std::move(e)); }
    void set_done() noexcept { complete(status::finished, nullptr); }

  protected:
    void destroy() noexcept override { delete this; }
    [[nodiscard]] std::string describe() const override { return "future"; }
};

} // namespace detail

/// A one-shot result slot (asyncio.Future). Copies share the same state; the state lives as
/// long as any copy (or an awaiter) does. Creating one allocates its state from eddy's pool.
/// Not thread-safe: set it from the loop's thread (cross-thread wake-ups are a later feature).
template <class T = void> class future {
  public:
    using value_type = T;

    /// A new pending future.
    future() : s_(new detail::future_state<T>()) {}
    future(const future& o) noexcept : s_(o.s_) { s_->add_ref(); }
    future(future&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    future& operator=(future o) noexcept {
        std::swap(s_, o.s_);
        return *this;
    }
    ~future() {
        if (s_ != nullptr) {
            s_->release();
        }
    }

    /// Sets the value and wakes every awaiter (they resume on a later loop turn). Throws
    /// eddy::invalid_state_error if the future is already done (InvalidStateError).
    template <class U = T>
    requires(!std::is_void_v<T> && std::is_constructible_v<T, U&&>) void set_result(U&& v) {
        check_pending("set_result");
        s_->value_.emplace(std::forward<U>(v));
        s_->set_done();
    }
    /// For future<void>: marks it done.
    void set_result() requires std::is_void_v<T> {
        check_pending("set_result");
        s_->set_done();
    }
    /// Stores `e`, rethrown to every awaiter. Throws eddy::invalid_state_error if already done.
    void set_exception(std::exception_ptr e) {
        check_pending("set_exception");
        if (!e) {
            throw std::invalid_argument("eddy::future::set_exception: null exception_ptr");
        }
        s_->set_exception(std::move(e));
    }
    /// Cancels the future: awaiters get eddy::cancelled_error. False if it was already done.
    bool cancel(std::string message = {}) { return s_->cancel(std::move(message)); }

    [[nodiscard]] bool done() const noexcept { return s_->done(); }
    /// True when the future was cancelled (done() is then true as well).
    [[nodiscard]] bool cancelled() const noexcept { return s_->cancelled(); }

    /// The value. Throws eddy::invalid_state_error if not done yet, eddy::cancelled_error if
    /// cancelled, the stored exception if one was set.
    decltype(auto) result() const { // NOLINT(modernize-use-nodiscard): void when T is void
        if (!s_->done()) {
            throw invalid_state_error("eddy: result() of a future that is not done");
        }
        s_->rethrow_if_failed();
        if constexpr (!std::is_void_v<T>) {
            return static_cast<T&>(s_->value_.get());
        }
    }
    /// The stored exception, or null. Throws as result() does when not done or cancelled.
    [[nodiscard]] std::exception_ptr exception() const { return s_->exception(); }

    /// Calls `fn(future)` through call_soon on the running loop once the future is done (at
    /// once, through call_soon, if it is done already); `fn` takes the future by value or by
    /// (const) reference, a copy sharing this one's state. It runs in a copy of the context
    /// current at this call, as call_soon's callbacks do. Throws eddy::loop_error with no
    /// running loop.
    template <class F>
    requires std::is_invocable_v<F&, future&>
    void add_done_callback(F fn) {
        event_loop& loop = get_running_loop();
        if (s_->done()) {
            (void)call_soon([self = *this, fn = std::move(fn)]() mutable { fn(self); });
            return;
        }
        s_->add_waiter(*new done_callback<F>(
            loop, s_, std::move(fn), detail::context_share(detail::current_context_slot())));
    }

    /// Waits until done; yields T& (the value stays in the shared state) or rethrows. Cancelling
    /// the awaiting task cancels the future (asyncio semantics).
    [[nodiscard]] auto operator co_await() const noexcept {
        return detail::state_awaiter<T, false>{s_, &s_->value_};
    }

    /// The shared state (for gather and other combinators).
    [[nodiscard]] detail::future_state<T>* state() const noexcept { return s_; }

  private:
    /// Shares an existing state (for done-callbacks).
    explicit future(detail::future_state<T>* s) noexcept : s_(s) { s_->add_ref(); }

    /// A done-callback parked on the state. It holds no reference (that would keep a future
    /// that never completes alive forever); the state drops it if it dies pending. When the
    /// state completes, it schedules `fn(future)` on the loop it was registered on (asyncio
    /// runs done-callbacks with call_soon, never inline).
    template <class F> struct done_callback final : detail::waiter, detail::pooled {
        done_callback(event_loop& loop, detail::future_state<T>* state, F f,
                      detail::context_data* context)
            : loop_(&loop), serial_(loop.serial()), state_(state), context_(context),
              fn_(std::move(f)) {
            wake_ = [](detail::waiter* w) noexcept {
                auto* self = static_cast<done_callback*>(w);
                // Completed after its loop closed (or from another thread's loop): asyncio would
                // raise "Event loop is closed"; here nothing can run it, so it is dropped.
                event_loop* running = detail::running_loop_;
                if (running == self->loop_ && running->serial() == self->serial_) {
                    try {
                        auto call = [f = future(self->state_),
                                     fn = std::move(self->fn_)]() mutable { fn(f); };
                        detail::callback_node* n = detail::make_callback(
                            *self->loop_, std::move(call), std::exchange(self->context_, nullptr));
                        self->loop_->post(*n);
                        n->release(); // no handle: the loop's reference is the only one
                    } catch (...) {   // NOLINT(bugprone-empty-catch): out of memory; nothing to do
                    }
                } else {
                    std::fprintf(stderr, "eddy: a future's done-callback was dropped: its event "
                                         "loop is no longer running\n");
                }
                delete self;
            };
            drop_ = [](detail::waiter* w) noexcept { delete static_cast<done_callback*>(w); };
        }
        done_callback(const done_callback&) = delete;
        done_callback& operator=(const done_callback&) = delete;
        ~done_callback() { detail::context_release(context_); }

        event_loop* loop_;
        std::uint64_t serial_;
        detail::future_state<T>* state_;
        detail::context_data* context_; // the one current at add_done_callback (one reference)
        F fn_;
    };

    void check_pending(const char* what) const {
        if (s_->done()) {
            throw invalid_state_error(std::string("eddy::future::") + what +
                                      ": the future is already done");
        }
    }

    detail::future_state<T>* s_;
};

} // namespace eddy
