// eddy — condition: wait for a notification while holding a lock (asyncio.Condition).
#pragma once

#include "eddy/detail/list.hpp"
#include "eddy/detail/parked.hpp"
#include "eddy/errors.hpp"
#include "eddy/lock.hpp"
#include "eddy/task.hpp"

#include <coroutine>
#include <cstddef>
#include <cstdio>
#include <exception>
#include <limits>
#include <utility>

namespace eddy {

/// A condition variable for tasks (asyncio.Condition): a task holding the lock calls wait(),
/// which releases the lock, waits for notify(), and takes the lock again before returning —
/// also when it is cancelled, as asyncio does. Waiters are notified first in, first out.
/// Not thread-safe; immovable. It must outlive the tasks waiting on it: destroying it while
/// tasks wait terminates the program with a message (a waiter holds a guard to its lock).
class condition {
  public:
    /// A condition with its own lock.
    condition() noexcept : lock_(&own_) {}
    /// A condition over `l`, which must outlive it (several conditions may share one lock).
    explicit condition(lock& l) noexcept : lock_(&l) {}
    condition(const condition&) = delete;
    condition& operator=(const condition&) = delete;
    ~condition() {
        if (!waiters_.empty()) {
            // The waiters would re-take a lock that dies with this object, and their callers'
            // lock_guards would release it later: no way to end them safely.
            std::fprintf(stderr, "eddy: condition destroyed while tasks wait on it\n");
            std::terminate();
        }
    }

    /// The lock the condition works with.
    [[nodiscard]] eddy::lock& underlying_lock() noexcept { return *lock_; }
    /// lock().acquire(): co_await it for a lock_guard.
    [[nodiscard]] auto acquire() noexcept { return lock_->acquire(); }
    /// True while the lock is held.
    [[nodiscard]] bool locked() const noexcept { return lock_->locked(); }

    /// Releases the lock, waits until notified, re-acquires the lock. The caller must hold the
    /// lock (eddy::invalid_state_error otherwise) and holds it again when this returns or
    /// throws. Throws cancelled_error if the task was cancelled while waiting.
    [[nodiscard]] task<> wait() {
        if (!lock_->locked()) {
            throw invalid_state_error("eddy::condition::wait: the lock is not held");
        }
        lock_->release();
        std::exception_ptr failure;
        bool notified = false;
        try {
            co_await awaiter{this};
            notified = true;
        } catch (...) {
            failure = std::current_exception();
        }
        // Take the lock back whatever happened: the caller's guard will release it. A
        // cancellation meanwhile must not leave the caller without the lock.
        while (true) {
            try {
                co_await lock_->acquire_raw();
                break;
            } catch (const cancelled_error&) {
                if (!failure) {
                    failure = std::current_exception(); // rethrown once the lock is back
                }
            }
        }
        if (failure) {
            if (notified) {
                // Notified, then cancelled while re-taking the lock: pass the notification on
                // rather than lose it (asyncio does the same; a spurious wake-up is allowed).
                notify(1);
            }
            std::rethrow_exception(failure);
        }
    }

    /// Waits until `pred()` is true, checking it first and after every notification (with
    /// the lock held). Yields the predicate's last value (true). Same contract as wait().
    template <class Pred> [[nodiscard]] task<bool> wait_for(Pred pred) {
        while (!pred()) {
            co_await wait();
        }
        co_return true;
    }

    /// Wakes up to `n` waiting tasks. The caller must hold the lock (eddy::invalid_state_error
    /// otherwise).
    void notify(std::size_t n = 1) {
        if (!lock_->locked()) {
            throw invalid_state_error("eddy::condition::notify: the lock is not held");
        }
        for (; n > 0; --n) {
            detail::parked* p = detail::first_waiter(waiters_);
            if (p == nullptr) {
                break;
            }
            p->grant();
        }
    }

    /// Wakes every waiting task. The caller must hold the lock.
    void notify_all() { notify(std::numeric_limits<std::size_t>::max()); }

  private:
    struct [[nodiscard]] awaiter : detail::parked {
        condition* c_;
        explicit awaiter(condition* c) noexcept : c_(c) {}
        [[nodiscard]] bool await_ready() const noexcept { return false; }
        bool await_suspend(std::coroutine_handle<> h) { return park(h, c_->waiters_); }
        void await_resume() { resume(); }
    };

    eddy::lock own_;
    eddy::lock* lock_;
    detail::intrusive_list waiters_;
};

} // namespace eddy
