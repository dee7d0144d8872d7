// eddy — awaiting a future's or a task's shared state from inside a task.
#pragma once

#include "eddy/detail/future_base.hpp"
#include "eddy/loop.hpp"

#include <coroutine>
#include <cstdint>
#include <type_traits>
#include <utility>

namespace eddy::detail {

/// Suspends until `state` completes, then yields its value (`Move`: moved out when this is the
/// only reference, else copied; otherwise a reference) or rethrows its exception.
/// Cancelling the awaiting task cancels the awaited state, as asyncio does, and the awaiter
/// resumes when that state has really finished. With `Shield` (eddy::shield) it does not: the
/// awaiter stops waiting at once and the awaited state goes on.
template <class T, bool Move, bool Shield = false>
struct [[nodiscard]] state_awaiter : suspension, waiter {
    future_base* state_;
    result_slot<T>* slot_;
    std::uint32_t exclusive_refs_; // references meaning "nobody else can read the value"

    /// Holds a reference for as long as it exists: the handle it came from may be dropped (or
    /// a future erased from a map) while this awaiter waits. `exclusive_refs` (`Move` only): the
    /// reference count at which the value can be moved out, 1 when nothing but this awaiter
    /// will remain (shield's by-value handle).
    state_awaiter(future_base* state, result_slot<T>* slot,
                  std::uint32_t exclusive_refs = 1) noexcept
        : state_(state), slot_(slot), exclusive_refs_(exclusive_refs) {
        state_->add_ref();
    }
    /// Takes over one reference to `state` (a handle awaited as an rvalue gives its own):
    /// `exclusive_refs` is then 1, this awaiter alone.
    state_awaiter(adopt_ref_t /*unused*/, future_base* state, result_slot<T>* slot) noexcept
        : state_(state), slot_(slot), exclusive_refs_(1) {}
    /// Movable until it is awaited, so that combinators taking awaiters by value accept it
    /// (`wait_for(shield(h), 1s)`, `gather(shield(h), ...)`): the move takes the reference, and
    /// awaiting the moved-from object throws eddy::invalid_state_error. Moving one that is being
    /// awaited terminates: the awaited state and the task's cancel hook point at it.
    state_awaiter(state_awaiter&& o) noexcept
        : state_(std::exchange(o.state_, nullptr)), slot_(o.slot_),
          exclusive_refs_(o.exclusive_refs_) {
        if (o.linked() || o.handle_) [[unlikely]] {
            std::terminate();
        }
    }
    state_awaiter(const state_awaiter&) = delete;
    state_awaiter& operator=(const state_awaiter&) = delete;
    state_awaiter& operator=(state_awaiter&&) = delete;
    ~state_awaiter() {
        if (state_ != nullptr) {
            state_->release();
        }
    }

    [[nodiscard]] bool await_ready() const noexcept { return state_ != nullptr && state_->done(); }

    bool await_suspend(std::coroutine_handle<> h) {
        if (state_ == nullptr) [[unlikely]] {
            throw_invalid("eddy: awaiting a moved-from awaiter");
        }
        arm(h, &on_cancel);
        if (state_ == task_) [[unlikely]] {
            disarm();
            throw_invalid("eddy: a task cannot await itself");
        }
        wake_ = &on_wake;
        state_->add_waiter(*this, task_);
        deliver_pending_cancel();
        return true;
    }

    decltype(auto) await_resume() {
        finish_wait();
        if (state_->cancelled()) {
            absorb_pending_cancel(); // it ends with the awaited state's cancelled_error
        }
        state_->rethrow_if_failed();
        if constexpr (std::is_void_v<T>) {
            return;
        } else if constexpr (std::is_reference_v<T> || !Move) {
            return static_cast<T&>(slot_->get());
        } else if constexpr (std::is_copy_constructible_v<T>) {
            if (state_->refs() == exclusive_refs_) {
                return T(std::move(slot_->get()));
            }
            return T(slot_->get());
        } else {
            // Move-only: an await by value takes it, whoever else holds the state (the task
            // or future that sets it often does). To read it in place, await an lvalue.
            return T(std::move(slot_->get()));
        }
    }

  private:
    // Out of line: two inline throws made await_suspend too big to inline into the awaiting
    // coroutine (callgrind, W1: 15 instructions per await).
    [[noreturn, gnu::noinline, gnu::cold]] static void throw_invalid(const char* what) {
        throw invalid_state_error(what);
    }
    static void on_wake(waiter* w) noexcept { static_cast<state_awaiter*>(w)->wake(); }
    static bool on_cancel(cancel_hook* h, bool abandon) noexcept {
        auto* self = static_cast<state_awaiter*>(static_cast<suspension*>(h));
        if (abandon || Shield) {
            self->unlink();
            self->cancelled_ = true;
            self->wake();
            return true;
        }
        try {
            return self->state_->cancel(self->task_ != nullptr ? self->task_->cancel_message()
                                                               : std::string());
        } catch (...) {
            return false; // could not copy the message: deliver at the next await instead
        }
    }
};

} // namespace eddy::detail
