// eddy — future<T>: a one-shot result slot that any number of coroutines can await.
#pragma once

#include "eddy/callbacks.hpp"
#include "eddy/detail/done_callback.hpp"
#include "eddy/detail/frame_allocator.hpp"
#include "eddy/detail/future_base.hpp"
#include "eddy/detail/state_awaiter.hpp"
#include "eddy/errors.hpp"

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
/// A moved-from future is empty (valid() is false): every other member, and awaiting it or
/// passing it to gather, wait, when_any or shield, throws eddy::invalid_state_error.
template <class T = void> class future {
  public:
    /// The result type (void: a future that only signals completion).
    using value_type = T;

    /// A new pending future.
    future() : s_(new detail::future_state<T>()) {}
    future(const future& o) noexcept : s_(o.s_) {
        if (s_ != nullptr) {
            s_->add_ref();
        }
    }
    future(future&& o) noexcept : s_(std::exchange(o.s_, nullptr)) {}
    /// Takes over one reference to `s` (eddy internal).
    future(detail::adopt_ref_t /*unused*/, detail::future_state<T>* s) noexcept : s_(s) {}
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
    /// For future<X&>, `v` must be an lvalue: a reference to a temporary would dangle at once.
    template <class U = T>
    requires(!std::is_void_v<T> && std::is_constructible_v<T, U&&> &&
             (!std::is_reference_v<T> || std::is_lvalue_reference_v<U>)) void set_result(U&& v) {
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
    bool cancel(std::string message = {}) {
        return checked("cancel()")->cancel(std::move(message));
    }

    /// False for a moved-from future (the only way to get an empty one).
    [[nodiscard]] bool valid() const noexcept { return s_ != nullptr; }
    /// valid().
    explicit operator bool() const noexcept { return valid(); }

    /// True once a result, an exception or a cancellation is set.
    [[nodiscard]] bool done() const { return checked("done()")->done(); }
    /// True when the future was cancelled (done() is then true as well).
    [[nodiscard]] bool cancelled() const { return checked("cancelled()")->cancelled(); }

    /// The value. Throws eddy::invalid_state_error if not done yet, eddy::cancelled_error if
    /// cancelled, the stored exception if one was set.
    decltype(auto) result() const { // NOLINT(modernize-use-nodiscard): void when T is void
        if (!checked("result()")->done()) {
            throw invalid_state_error("eddy: result() of a future that is not done");
        }
        s_->rethrow_if_failed();
        if constexpr (!std::is_void_v<T>) {
            return static_cast<T&>(s_->value_.get());
        }
    }
    /// The stored exception, or null. Throws as result() does when not done or cancelled.
    [[nodiscard]] std::exception_ptr exception() const {
        return checked("exception()")->exception();
    }

    /// Calls `fn(future)` through call_soon on the running loop once the future is done (at
    /// once, through call_soon, if it is done already); `fn` takes the future by value or by
    /// (const) reference, a copy sharing this one's state. It runs in a copy of the context
    /// current at this call, as call_soon's callbacks do. Between two runs of an eddy::runner
    /// the runner's loop takes it (it runs during a later run). Throws eddy::loop_error with no
    /// loop running or open on this thread.
    template <class F>
    requires std::is_invocable_v<F&, future&>
    void add_done_callback(F fn) {
        detail::add_done_callback<future>(checked("add_done_callback()"), std::move(fn));
    }

    /// Waits until done; yields T& (the value stays in the shared state) or rethrows. Cancelling
    /// the awaiting task cancels the future (asyncio semantics).
    [[nodiscard]] auto operator co_await() const& {
        return detail::state_awaiter<T, false>{checked("co_await"), &s_->value_};
    }
    /// As above, but yields T by value, and the future gives its reference to the await (it is
    /// empty afterwards): a temporary future (`co_await make_future()`, `wait_for(f(), 1s)`)
    /// cannot leave a reference into a state nobody holds. The value is moved out when no other
    /// copy shares the state, else copied; a move-only one is moved out (other copies then see
    /// a moved-from value: to read it in place, await an lvalue).
    [[nodiscard]] auto operator co_await() && {
        detail::future_state<T>* s = checked("co_await");
        s_ = nullptr;
        return detail::state_awaiter<T, true>{detail::adopt_ref, s, &s->value_};
    }

    /// The shared state (for gather and other combinators). Throws on an empty future.
    [[nodiscard]] detail::future_state<T>* state() const { return checked("use"); }

  private:
    detail::future_state<T>* checked(const char* what) const {
        if (s_ == nullptr) [[unlikely]] {
            throw_empty(what);
        }
        return s_;
    }
    [[noreturn, gnu::noinline, gnu::cold]] static void throw_empty(const char* what) {
        throw invalid_state_error(std::string("eddy::future: ") + what +
                                  " on an empty (moved-from) future");
    }
    void check_pending(const char* what) const {
        if (checked(what)->done()) {
            throw invalid_state_error(std::string("eddy::future::") + what +
                                      ": the future is already done");
        }
    }

    detail::future_state<T>* s_;
};

namespace detail {
/// An lvalue future handed to wait_for or a timeout scope: it shares the future's state and,
/// awaited, yields T& into it as awaiting the lvalue itself does (the caller's future keeps
/// the state alive). A temporary future goes through the generic overloads and yields T.
template <class T> class future_lvalue {
  public:
    explicit future_lvalue(const future<T>& f) : f_(f) {}
    [[nodiscard]] bool done() const { return f_.done(); }
    [[nodiscard]] bool cancelled() const { return f_.cancelled(); }
    bool cancel(std::string message = {}) { return f_.cancel(std::move(message)); }
    [[nodiscard]] future_state<T>* state() const { return f_.state(); }
    [[nodiscard]] auto operator co_await() const { return f_.operator co_await(); }

  private:
    future<T> f_;
};
} // namespace detail

} // namespace eddy
