// eddy — a task parked in a synchronization primitive's FIFO of waiters.
#pragma once

#include "eddy/detail/list.hpp"
#include "eddy/errors.hpp"
#include "eddy/loop.hpp"

#include <coroutine>
#include <exception>

namespace eddy::detail {

/// A waiter of a primitive (event, lock, semaphore, condition, barrier, queue), living in the
/// awaiting frame and linked in the primitive's FIFO: nothing is allocated per wait.
///
/// Ownership hand-off: the primitive *grants* a waiter what it waits for (the lock, a permit,
/// an item) by unlinking and waking it in one step. From then on the grant is the waiter's:
/// a cancellation arriving before it resumes is delivered at its next await, so nothing is
/// lost. A waiter cancelled while still linked takes nothing with it: it leaves the FIFO and
/// its `withdrawn_` callback lets the primitive undo bookkeeping (a barrier's count).
struct parked : suspension, list_node {
    void (*withdrawn_)(parked*) noexcept = nullptr;
    bool orphaned_ = false; // the primitive was destroyed while this waited

    parked() = default;
    /// Moves a waiter that has not been awaited yet, so that an awaiter can be handed to
    /// wait_for, timeout, gather or when_any (`wait_for(ev.wait(), 1s)`). A waiter that is
    /// linked in a FIFO is never moved: the primitive points at it.
    parked(parked&& other) noexcept : withdrawn_(other.withdrawn_) {
        if (other.linked() || other.loop_ != nullptr) [[unlikely]] {
            std::terminate(); // moved while awaited: a bug in the awaiting code
        }
    }
    parked(const parked&) = delete;
    parked& operator=(const parked&) = delete;
    parked& operator=(parked&&) = delete;
    ~parked() { unlink(); }

    /// Suspends in `fifo` (the await_suspend step).
    bool park(std::coroutine_handle<> h, intrusive_list& fifo) {
        arm(h, &on_cancel);
        fifo.push_back(*this);
        deliver_pending_cancel();
        return true;
    }
    /// Hands the waiter what it waited for and schedules it.
    void grant() noexcept {
        unlink();
        wake();
    }
    /// The await_resume step: throws cancelled_error if cancelled while waiting,
    /// eddy::invalid_state_error if the primitive died meanwhile.
    void resume() {
        finish_wait();
        if (orphaned_) [[unlikely]] {
            throw_orphaned();
        }
    }
    [[noreturn, gnu::noinline]] static void throw_orphaned() {
        throw invalid_state_error("eddy: a synchronization primitive was destroyed while a "
                                  "task waited on it");
    }

  private:
    static bool on_cancel(cancel_hook* c, bool abandon) noexcept {
        (void)abandon; // a waiting node always leaves at once
        auto* self = static_cast<parked*>(static_cast<suspension*>(c));
        if (!self->linked()) {
            return false; // already granted: the grant is kept, the cancel waits
        }
        self->unlink();
        self->cancelled_ = true;
        if (self->withdrawn_ != nullptr) {
            self->withdrawn_(self);
        }
        self->wake();
        return true;
    }
};

/// The first waiter of `fifo`, or nullptr.
template <class P = parked> P* first_waiter(const intrusive_list& fifo) noexcept {
    return static_cast<P*>(static_cast<parked*>(fifo.front()));
}

/// Wakes every waiter of a dying primitive with invalid_state_error.
inline void orphan_all(intrusive_list& fifo) noexcept {
    while (parked* p = first_waiter(fifo)) {
        p->orphaned_ = true;
        p->grant();
    }
}

} // namespace eddy::detail
