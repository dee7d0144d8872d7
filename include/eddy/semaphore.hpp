// eddy — semaphore and bounded_semaphore: a counter of permits (asyncio.Semaphore).
#pragma once

#include "eddy/detail/body.hpp"
#include "eddy/detail/list.hpp"
#include "eddy/detail/parked.hpp"
#include "eddy/errors.hpp"
#include "eddy/task.hpp"

#include <coroutine>
#include <cstddef>
#include <stdexcept>
#include <type_traits>

namespace eddy {

/// A counter of permits (asyncio.Semaphore): acquire() takes one, waiting while none is left;
/// release() gives one back. Waiters are served first in, first out: a released permit goes
/// straight to the first waiter. Not thread-safe; immovable; destroying it while tasks wait
/// wakes them with eddy::invalid_state_error.
class semaphore {
  public:
    /// Starts with `value` permits.
    explicit semaphore(std::size_t value = 1) noexcept : value_(value) {}
    semaphore(const semaphore&) = delete;
    semaphore& operator=(const semaphore&) = delete;
    ~semaphore() {
        // Waiters handed a permit and not yet resumed keep it, and learn that the semaphore is
        // gone (their node is unlinked): they no longer give it back.
        while (handed_.pop_front() != nullptr) {
        }
        detail::orphan_all(waiters_);
    }

    /// True when acquire() would wait (no permit free, or tasks already waiting).
    [[nodiscard]] bool locked() const noexcept { return value_ == 0; }
    /// Permits free now.
    [[nodiscard]] std::size_t value() const noexcept { return value_; }

    /// Takes a permit, waiting for one if none is free. Throws cancelled_error if the task is
    /// cancelled while waiting, or after a permit was handed to it but before it resumed (the
    /// permit then goes to the next waiter, as asyncio's does): either way it holds no permit.
    /// Allocates nothing.
    [[nodiscard]] auto acquire() noexcept { return awaiter{this}; }

    /// Takes a permit if one is free now.
    [[nodiscard]] bool try_acquire() noexcept {
        if (value_ == 0) {
            return false;
        }
        --value_;
        return true;
    }

    /// Gives a permit back: to the first waiter if any, else to the counter.
    void release() noexcept {
        if (auto* p = detail::first_waiter<awaiter>(waiters_)) {
            handed_.push_back(p->handed_);
            ++handed_count_;
            p->grant();
        } else {
            ++value_;
        }
    }

    /// Runs `body` (an awaitable, or a callable returning a task) holding a permit and yields
    /// its result; the permit is given back however the body ends (`async with sem:`).
    template <detail::body A> [[nodiscard]] task<detail::body_result_t<A>> with(A body) {
        co_await acquire();
        struct give_back {
            semaphore* s;
            ~give_back() { s->release(); }
        } held{this};
        co_return co_await detail::start_body(body);
    }

  protected:
    std::size_t value_;
    // Permits handed to waiters that have not resumed yet: asyncio counts them as free until
    // the woken waiter takes them (bounded_semaphore's check needs them).
    std::size_t handed_count_ = 0;

  private:
    struct [[nodiscard]] awaiter : detail::parked {
        semaphore* s_;
        // Linked in the semaphore's handed_ from the grant until it resumes: whether the
        // semaphore is still there to take the permit back.
        detail::list_node handed_;
        explicit awaiter(semaphore* s) noexcept : s_(s) {}
        awaiter(awaiter&& o) noexcept : parked(std::move(o)), s_(o.s_) {} // only before the await
        awaiter(const awaiter&) = delete;
        awaiter& operator=(const awaiter&) = delete;
        awaiter& operator=(awaiter&&) = delete;
        ~awaiter() {
            if (handed_.linked()) [[unlikely]] {
                // Handed a permit, then destroyed without resuming (its frame went with its
                // task): the permit goes back rather than being lost.
                take_handed();
                s_->semaphore::release();
            }
        }
        [[nodiscard]] bool await_ready() noexcept { return s_->try_acquire(); }
        bool await_suspend(std::coroutine_handle<> h) { return park(h, s_->waiters_); }
        void await_resume() {
            resume();
            if (handed_.linked()) {
                take_handed();
                if (cancelled_after_grant()) [[unlikely]] {
                    s_->semaphore::release(); // to the next waiter, as asyncio's acquire does
                    throw_pending_cancel();
                }
            }
        }
        void take_handed() noexcept {
            handed_.unlink();
            --s_->handed_count_;
        }
    };

    detail::intrusive_list waiters_;
    detail::intrusive_list handed_; // awaiters handed a permit, not yet resumed
};

/// A semaphore that refuses to be released more often than acquired (asyncio.BoundedSemaphore).
class bounded_semaphore : public semaphore {
  public:
    /// Starts with `value` permits, which is also the most it may hold.
    explicit bounded_semaphore(std::size_t value = 1) noexcept : semaphore(value), bound_(value) {}

    /// Gives a permit back. Throws eddy::invalid_state_error when that would exceed the
    /// initial value (asyncio's ValueError): a release without a matching acquire. (Not
    /// virtual: a release through a semaphore& skips the check.)
    void release() {
        if (value_ + handed_count_ >= bound_) {
            throw invalid_state_error("eddy::bounded_semaphore released too many times");
        }
        semaphore::release();
    }

    /// As semaphore::with, but the permit goes back through the checked release(): a body
    /// that released it itself makes with() throw eddy::invalid_state_error once the body has
    /// ended (asyncio's ValueError from `async with`), instead of raising the value past the
    /// bound. If the body throws, its exception is what propagates.
    template <detail::body A> [[nodiscard]] task<detail::body_result_t<A>> with(A body) {
        co_await acquire();
        struct give_back {
            bounded_semaphore* s;
            bool given = false;
            // The body's exception is on its way: give the permit back unless it already did.
            ~give_back() {
                if (!given && s->value_ + s->handed_count_ < s->bound_) {
                    s->semaphore::release();
                }
            }
            void now() {
                given = true;
                s->release(); // throws if the body released the permit already
            }
        } held{this};
        if constexpr (std::is_void_v<detail::body_result_t<A>>) {
            co_await detail::start_body(body);
            held.now();
        } else {
            detail::body_result_t<A> r = co_await detail::start_body(body);
            held.now();
            co_return r;
        }
    }

  private:
    std::size_t bound_;
};

} // namespace eddy
