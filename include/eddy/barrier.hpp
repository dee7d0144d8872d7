// eddy — barrier: a fixed number of tasks wait for each other (asyncio.Barrier).
#pragma once

#include "eddy/detail/list.hpp"
#include "eddy/detail/parked.hpp"
#include "eddy/errors.hpp"

#include <coroutine>
#include <cstddef>
#include <stdexcept>

namespace eddy {

/// A rendezvous of `parties` tasks (asyncio.Barrier): each calls wait(); the last to arrive
/// releases them all, and the barrier is ready for the next round. abort() breaks it: every
/// waiting and later wait() throws eddy::broken_barrier_error until reset(). Not thread-safe;
/// immovable; destroying it while tasks wait wakes them with eddy::invalid_state_error.
class barrier {
  public:
    /// A barrier for `parties` tasks. Throws std::invalid_argument when parties is 0.
    explicit barrier(std::size_t parties) : parties_(parties) {
        if (parties == 0) {
            throw std::invalid_argument("eddy::barrier: parties must be at least 1");
        }
    }
    barrier(const barrier&) = delete;
    barrier& operator=(const barrier&) = delete;
    ~barrier() { detail::orphan_all(waiters_); }

    /// Waits until `parties` tasks are waiting, then yields this task's arrival index in the
    /// round (0 for the first, parties - 1 for the one that released the others; after a
    /// waiter was cancelled out of the round an index may repeat, as in asyncio). Throws
    /// eddy::broken_barrier_error if the barrier is or becomes broken, or is reset while this
    /// task waits; cancelled_error if cancelled while waiting (the round then counts one task
    /// less). Allocates nothing.
    [[nodiscard]] auto wait() noexcept { return awaiter{this}; }

    /// Returns the barrier to its empty state, not broken. Tasks waiting now get
    /// eddy::broken_barrier_error.
    void reset() noexcept {
        break_waiters();
        broken_ = false;
    }

    /// Breaks the barrier: waiting tasks and every later wait() get
    /// eddy::broken_barrier_error, until reset().
    void abort() noexcept {
        broken_ = true;
        break_waiters();
    }

    /// True after abort(), until reset().
    [[nodiscard]] bool broken() const noexcept { return broken_; }
    /// How many tasks each round needs.
    [[nodiscard]] std::size_t parties() const noexcept { return parties_; }
    /// How many tasks wait in the current round.
    [[nodiscard]] std::size_t n_waiting() const noexcept { return waiting_; }

  private:
    struct [[nodiscard]] awaiter : detail::parked {
        barrier* b_;
        std::size_t index_ = 0;
        bool broke_ = false;
        explicit awaiter(barrier* b) noexcept : b_(b) { withdrawn_ = &on_withdrawn; }

        [[nodiscard]] bool await_ready() const noexcept { return false; }
        bool await_suspend(std::coroutine_handle<> h) {
            if (b_->broken_) {
                broke_ = true;
                return false;
            }
            index_ = b_->waiting_;
            if (index_ + 1 == b_->parties_) {
                b_->release_round();
                return false; // the last arrival goes on at once
            }
            ++b_->waiting_;
            return park(h, b_->waiters_);
        }
        std::size_t await_resume() {
            resume();
            if (broke_) {
                throw broken_barrier_error();
            }
            return index_;
        }
        static void on_withdrawn(detail::parked* p) noexcept {
            --static_cast<awaiter*>(p)->b_->waiting_;
        }
    };

    void release_round() noexcept {
        waiting_ = 0;
        while (detail::parked* p = detail::first_waiter(waiters_)) {
            p->grant();
        }
    }
    void break_waiters() noexcept {
        waiting_ = 0;
        while (auto* p = detail::first_waiter<awaiter>(waiters_)) {
            p->broke_ = true;
            p->grant();
        }
    }

    std::size_t parties_;
    std::size_t waiting_ = 0;
    bool broken_ = false;
    detail::intrusive_list waiters_;
};

} // namespace eddy
