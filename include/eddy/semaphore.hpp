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
    ~semaphore() { detail::orphan_all(waiters_); }

    /// True when acquire() would wait (no permit free, or tasks already waiting).
    [[nodiscard]] bool locked() const noexcept { return value_ == 0; }
    /// Permits free now.
    [[nodiscard]] std::size_t value() const noexcept { return value_; }

    /// Takes a permit, waiting for one if none is free. Throws cancelled_error if the task is
    /// cancelled while waiting (it then holds no permit). Allocates nothing.
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
        if (detail::parked* p = detail::first_waiter(waiters_)) {
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

  private:
    struct [[nodiscard]] awaiter : detail::parked {
        semaphore* s_;
        explicit awaiter(semaphore* s) noexcept : s_(s) {}
        [[nodiscard]] bool await_ready() noexcept { return s_->try_acquire(); }
        bool await_suspend(std::coroutine_handle<> h) { return park(h, s_->waiters_); }
        void await_resume() { resume(); }
    };

    detail::intrusive_list waiters_;
};

/// A semaphore that refuses to be released more often than acquired (asyncio.BoundedSemaphore).
class bounded_semaphore : public semaphore {
  public:
    explicit bounded_semaphore(std::size_t value = 1) noexcept : semaphore(value), bound_(value) {}

    /// Gives a permit back. Throws eddy::invalid_state_error when that would exceed the
    /// initial value (asyncio's ValueError): a release without a matching acquire. (Not
    /// virtual: a release through a semaphore& skips the check.)
    void release() {
        if (value_ >= bound_) {
            throw invalid_state_error("eddy::bounded_semaphore released too many times");
        }
        semaphore::release();
    }

  private:
    std::size_t bound_;
};

} // namespace eddy
