// eddy — lock: mutual exclusion between the tasks of one loop (asyncio.Lock).
#pragma once

#include "eddy/detail/body.hpp"
#include "eddy/detail/future_base.hpp"
#include "eddy/detail/list.hpp"
#include "eddy/detail/parked.hpp"
#include "eddy/errors.hpp"
#include "eddy/task.hpp"

#include <coroutine>
#include <exception>
#include <type_traits>
#include <utility>

namespace eddy {

class lock;

/// Ownership of a lock, released when destroyed (or by unlock()). Move-only.
class [[nodiscard]] lock_guard {
  public:
    lock_guard() noexcept = default;
    /// Adopts a lock already acquired (eddy internal; use co_await lock.acquire()).
    explicit lock_guard(lock* l) noexcept : l_(l) {}
    lock_guard(lock_guard&& o) noexcept : l_(std::exchange(o.l_, nullptr)) {}
    lock_guard& operator=(lock_guard&& o) noexcept {
        if (this != &o) {
            unlock();
            l_ = std::exchange(o.l_, nullptr);
        }
        return *this;
    }
    lock_guard(const lock_guard&) = delete;
    lock_guard& operator=(const lock_guard&) = delete;
    ~lock_guard() { unlock(); }

    /// True while this guard holds the lock.
    [[nodiscard]] bool owns_lock() const noexcept { return l_ != nullptr; }
    /// owns_lock().
    explicit operator bool() const noexcept { return owns_lock(); }
    /// Releases the lock now (a no-op if already released).
    inline void unlock() noexcept;

  private:
    lock* l_ = nullptr;
};

/// Mutual exclusion for tasks (asyncio.Lock): at most one holder; waiters are served first in,
/// first out, and the lock passes straight to the next waiter on release, so no newcomer can
/// overtake a waiting task. Not thread-safe. Immovable; destroying it while tasks wait wakes
/// them with eddy::invalid_state_error.
class lock {
  public:
    lock() = default;
    lock(const lock&) = delete;
    lock& operator=(const lock&) = delete;
    ~lock() { detail::orphan_all(waiters_); }

    /// True while some task holds the lock. False from a release() that passed the lock to a
    /// waiter until that waiter resumes (asyncio's locked() reads the same), although nobody
    /// else can take it meanwhile: the waiter owns it.
    [[nodiscard]] bool locked() const noexcept { return locked_ && !handing_over_; }

    /// Waits for the lock and yields a lock_guard that releases it. Throws cancelled_error if
    /// the task is cancelled while waiting, or after the lock was handed to it but before it
    /// resumed (the lock then goes to the next waiter, as asyncio's does): either way it holds
    /// nothing. Allocates nothing.
    [[nodiscard]] auto acquire() noexcept { return awaiter<true>{this}; }

    /// Takes the lock if it is free and nobody waits; the caller must release() it.
    [[nodiscard]] bool try_acquire() noexcept {
        if (locked_) {
            return false;
        }
        locked_ = true;
        return true;
    }

    /// Releases the lock: the first waiter, if any, gets it. Throws eddy::invalid_state_error
    /// when the lock is not held (asyncio's RuntimeError), including a second release before
    /// the waiter the first one passed it to has resumed.
    void release() {
        if (!locked()) {
            throw invalid_state_error("eddy::lock::release: the lock is not held");
        }
        release_unchecked();
    }

    /// Runs `body` (an awaitable, or a callable returning a task) holding the lock and yields
    /// its result; the lock is released however the body ends (asyncio's `async with lock:`).
    template <detail::body A> [[nodiscard]] task<detail::body_result_t<A>> with(A body) {
        lock_guard held = co_await acquire();
        co_return co_await detail::start_body(body);
    }

    // ---- for eddy::condition ----

    /// Waits for the lock without a guard (the caller releases it).
    [[nodiscard]] auto acquire_raw() noexcept { return awaiter<false>{this}; }

  private:
    friend class lock_guard;

    void release_unchecked() noexcept {
        if (detail::parked* p = detail::first_waiter(waiters_)) {
            p->grant(); // stays locked: ownership passes to the waiter
            handing_over_ = true;
        } else {
            locked_ = false;
            handing_over_ = false;
        }
    }

    template <bool Guard> struct [[nodiscard]] awaiter : detail::parked {
        lock* l_;
        explicit awaiter(lock* l) noexcept : l_(l) {}
        [[nodiscard]] bool await_ready() noexcept { return l_->try_acquire(); }
        bool await_suspend(std::coroutine_handle<> h) { return park(h, l_->waiters_); }
        auto await_resume() {
            resume();
            l_->handing_over_ = false; // granted (an orphaned waiter threw above)
            if (cancelled_after_grant()) [[unlikely]] {
                l_->release_unchecked(); // to the next waiter, as asyncio's acquire does
                throw_pending_cancel();
            }
            if constexpr (Guard) {
                return lock_guard(l_);
            }
        }
    };

    detail::intrusive_list waiters_;
    bool locked_ = false;
    bool handing_over_ = false; // locked_, passed to a waiter that has not resumed yet
};

inline void lock_guard::unlock() noexcept {
    if (l_ != nullptr) {
        std::exchange(l_, nullptr)->release_unchecked();
    }
}

} // namespace eddy
