// eddy — event: a flag that tasks can wait for (asyncio.Event).
#pragma once

#include "eddy/detail/list.hpp"
#include "eddy/detail/parked.hpp"

#include <coroutine>

namespace eddy {

/// A flag, initially false, that tasks wait to become true (asyncio.Event). Not thread-safe:
/// used by the tasks of one loop. Immovable (waiters point at it). Destroying it while tasks
/// wait wakes them with eddy::invalid_state_error.
class event {
  public:
    event() = default;
    event(const event&) = delete;
    event& operator=(const event&) = delete;
    ~event() { detail::orphan_all(waiters_); }

    /// True when set.
    [[nodiscard]] bool is_set() const noexcept { return set_; }

    /// Sets the flag and wakes every waiting task (in the order they started waiting). Tasks
    /// that wait later return at once, until clear().
    void set() noexcept {
        set_ = true;
        while (detail::parked* p = detail::first_waiter(waiters_)) {
            p->grant();
        }
    }

    /// Resets the flag. Tasks already woken by set() still return.
    void clear() noexcept { set_ = false; }

    /// Waits until the flag is set (at once if it is). Throws cancelled_error if the task is
    /// cancelled while waiting; allocates nothing.
    [[nodiscard]] auto wait() noexcept { return awaiter{this}; }

  private:
    struct [[nodiscard]] awaiter : detail::parked {
        event* e_;
        explicit awaiter(event* e) noexcept : e_(e) {}
        [[nodiscard]] bool await_ready() const noexcept { return e_->set_; }
        bool await_suspend(std::coroutine_handle<> h) { return park(h, e_->waiters_); }
        void await_resume() { resume(); }
    };

    detail::intrusive_list waiters_;
    bool set_ = false;
};

} // namespace eddy
