// eddy — as_completed: several tasks' handles, in the order the tasks finish.
#pragma once

#include "eddy/detail/future_base.hpp"
#include "eddy/detail/timer_heap.hpp"
#include "eddy/errors.hpp"
#include "eddy/loop.hpp"
#include "eddy/wait.hpp"

#include <chrono>
#include <coroutine>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <optional>
#include <ranges>
#include <type_traits>
#include <utility>
#include <vector>

namespace eddy {

/// Handles yielded in the order their tasks finish (asyncio.as_completed). Made by
/// eddy::as_completed; keep it in a variable (it is immovable: the tasks' waiters point into
/// it) and call `co_await next()` until empty():
///
///     auto finished = eddy::as_completed(std::move(handles));
///     while (!finished.empty()) {
///         auto h = co_await finished.next();
///         use(co_await h); // the result, or its exception rethrown (a task_ref: h.exception())
///     }
template <class H> class as_completed_set {
  public:
    /// Eddy internal: use eddy::as_completed.
    as_completed_set(std::vector<H> hs, std::optional<std::int64_t> deadline)
        : handles_(std::move(hs)), children_(handles_.size()) {
        order_.reserve(handles_.size());
        for (std::size_t i = 0; i < handles_.size(); ++i) {
            child& c = children_[i];
            c.self = this;
            c.state = handles_[i].state();
            if (c.state->done()) {
                order_.push_back(i);
            } else {
                c.wake_ = &on_child;
                c.state->add_waiter(c);
            }
        }
        if (deadline && order_.size() < handles_.size()) {
            loop_ = &get_running_loop();
            timer_.self = this;
            timer_.deadline_ = *deadline;
            timer_.fire_ = &on_timer;
            loop_->add_timer(timer_);
        }
    }
    as_completed_set(as_completed_set&&) = delete;
    as_completed_set(const as_completed_set&) = delete;
    as_completed_set& operator=(const as_completed_set&) = delete;
    ~as_completed_set() {
        detach();
        if (consumer_ != nullptr) {
            // Destroyed (with the frame that owned it) while another task awaits next(): that
            // task gets invalid_state_error rather than a dangling set.
            consumer_->set_ = nullptr;
            std::exchange(consumer_, nullptr)->wake();
        }
    }

    /// True once every handle has been yielded, or once the deadline passed and every handle
    /// that finished before it has been yielded.
    [[nodiscard]] bool empty() const noexcept {
        return read_ == order_.size() && (read_ == handles_.size() || expired_);
    }
    /// Handles not yielded yet.
    [[nodiscard]] std::size_t size() const noexcept { return handles_.size() - read_; }

    /// Awaits the next task to finish and yields its handle (moved out of the set). Throws
    /// eddy::timeout_error once the deadline passed and the tasks finished before it have all
    /// been yielded (the rest go on running); eddy::invalid_state_error when empty(), when
    /// another next() is waiting, when the set is destroyed while it waits, or when the one
    /// task left unfinished is the awaiting task itself and there is no timeout (it could never
    /// return); cancelled_error if the awaiting task is cancelled (the tasks go on).
    [[nodiscard]] auto next() { return next_awaiter{this}; }

  private:
    struct child : detail::waiter {
        as_completed_set* self = nullptr;
        detail::future_base* state = nullptr;
    };
    struct deadline_timer : detail::timer_node {
        as_completed_set* self = nullptr;
    };
    struct [[nodiscard]] next_awaiter : detail::suspension {
        as_completed_set* set_;
        explicit next_awaiter(as_completed_set* s) noexcept : set_(s) {}

        [[nodiscard]] bool await_ready() const noexcept {
            return set_->read_ < set_->order_.size() || set_->expired_;
        }
        bool await_suspend(std::coroutine_handle<> h) {
            if (set_->consumer_ != nullptr) {
                throw invalid_state_error("eddy::as_completed: next() awaited twice at once");
            }
            if (set_->read_ == set_->handles_.size()) {
                throw invalid_state_error("eddy::as_completed: next() on an empty set");
            }
            arm(h, &on_cancel);
            if (set_->only_unfinished_is(task_)) [[unlikely]] {
                disarm();
                throw invalid_state_error("eddy::as_completed: next() awaited by the one task of "
                                          "the set left unfinished, with no timeout: it could "
                                          "never return");
            }
            set_->consumer_ = this;
            deliver_pending_cancel();
            return true;
        }
        H await_resume() {
            finish_wait();
            if (set_ == nullptr) {
                throw invalid_state_error("eddy::as_completed: the set was destroyed while "
                                          "next() waited");
            }
            if (set_->read_ < set_->order_.size()) {
                return std::move(set_->handles_[set_->order_[set_->read_++]]);
            }
            if (set_->read_ == set_->handles_.size()) {
                throw invalid_state_error("eddy::as_completed: next() on an empty set");
            }
            throw timeout_error("eddy::as_completed: timed out");
        }
        static bool on_cancel(detail::cancel_hook* h, bool abandon) noexcept {
            (void)abandon;
            auto* self = static_cast<next_awaiter*>(h);
            self->set_->consumer_ = nullptr;
            self->cancelled_ = true;
            self->wake();
            return true;
        }
    };

    // True when the one task left unfinished is `t` and no deadline can end the wait: a next()
    // awaited by `t` itself would never return (asyncio hangs there).
    [[nodiscard]] bool only_unfinished_is(const detail::task_base* t) const noexcept {
        if (t == nullptr || timer_.armed() || handles_.size() - order_.size() != 1) {
            return false;
        }
        // The unfinished child is the one still parked on its state. A yielded child's state may
        // be gone (the handle moved out was the last reference): only compare addresses.
        for (const child& c : children_) {
            if (c.linked()) {
                return c.state == static_cast<const detail::future_base*>(t);
            }
        }
        return false;
    }
    void notify() noexcept {
        if (consumer_ != nullptr) {
            std::exchange(consumer_, nullptr)->wake();
        }
    }
    void detach() noexcept {
        for (child& c : children_) {
            c.unlink();
        }
        if (timer_.armed() && !loop_->remove_timer(timer_)) {
            std::terminate(); // out of memory: the timer would point into a dead object
        }
    }
    static void on_child(detail::waiter* w) noexcept {
        auto* c = static_cast<child*>(w);
        as_completed_set* self = c->self;
        // Reserved in the constructor: never reallocates.
        self->order_.push_back(static_cast<std::size_t>(c - self->children_.data()));
        if (self->order_.size() == self->handles_.size()) {
            self->detach();
        }
        self->notify();
    }
    static void on_timer(detail::timer_node* t) noexcept {
        as_completed_set* self = static_cast<deadline_timer*>(t)->self;
        self->expired_ = true;
        self->detach();
        self->notify();
    }

    std::vector<H> handles_;
    std::vector<child> children_;
    std::vector<std::size_t> order_; // indices in completion order
    std::size_t read_ = 0;
    event_loop* loop_ = nullptr;
    deadline_timer timer_;
    next_awaiter* consumer_ = nullptr;
    bool expired_ = false;
};

/// Yields the task handles (task_refs, futures) of `handles` in the order they finish
/// (asyncio.as_completed); see as_completed_set. Those already finished come first, in the
/// range's order; a task listed twice is yielded once. The handles are shared from an lvalue
/// range or a view, moved from an rvalue container. Throws std::invalid_argument for an empty
/// range, eddy::invalid_state_error for an empty handle.
template <std::ranges::input_range R>
requires detail::wait_handle<std::remove_cvref_t<std::ranges::range_value_t<R>>>
[[nodiscard]] auto as_completed(R&& handles) {
    using H = std::remove_cvref_t<std::ranges::range_value_t<R>>;
    return as_completed_set<H>(detail::collect_handles(std::forward<R>(handles)), std::nullopt);
}

/// As above, with a deadline `timeout` from now: next() throws eddy::timeout_error once it has
/// passed. Throws eddy::loop_error outside a running loop.
template <std::ranges::input_range R, class Rep, class Period>
requires detail::wait_handle<std::remove_cvref_t<std::ranges::range_value_t<R>>>
[[nodiscard]] auto as_completed(R&& handles, std::chrono::duration<Rep, Period> timeout) {
    using H = std::remove_cvref_t<std::ranges::range_value_t<R>>;
    return as_completed_set<H>(detail::collect_handles(std::forward<R>(handles)),
                               detail::deadline_after(timeout));
}

} // namespace eddy
