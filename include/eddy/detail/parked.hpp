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
/// an item) by unlinking and waking it in one step, so that no newcomer can overtake it. A
/// waiter cancelled while still linked takes nothing with it: it leaves the FIFO and its
/// `withdrawn_` callback lets the primitive undo bookkeeping (a barrier's count). A waiter
/// whose task is cancelled after the grant, before it resumes (cancelled_after_grant), is
/// where asyncio raises CancelledError at the await: a lock, semaphore or queue then gives the
/// grant to the next waiter and the await throws (throw_pending_cancel), so that nothing is
/// lost even when nobody would have used what the await returned (a gather's or a task
/// group's cancelled child). The other primitives keep the grant; the cancellation then lands
/// at the task's next await.
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
    /// After resume(): true when the waiter was granted what it waited for and its task was
    /// cancelled before it resumed (the request could not reach the waiter, which had left the
    /// FIFO; it waits in the task as a pending cancellation).
    [[nodiscard]] bool cancelled_after_grant() const noexcept {
        return task_ != nullptr && task_->has_pending_cancel();
    }
    /// Ends the await with the pending cancellation (consuming it), once the primitive has
    /// taken its grant back.
    [[noreturn, gnu::noinline]] void throw_pending_cancel() {
        (void)task_->take_pending_cancel();
        throw cancelled_error(task_->cancel_message());
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
