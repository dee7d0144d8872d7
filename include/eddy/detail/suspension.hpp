// eddy — suspension: the common core of awaiters that suspend a task until an event (included
// at the end of loop.hpp, not on its own).
#pragma once

#include "eddy/loop.hpp"

namespace eddy::detail {

/// The common core of eddy's awaiters that suspend a task until an event. Protocol:
/// `arm` in await_suspend (installs the task's cancel hook), then register with whatever will
/// wake the task, then `deliver_pending_cancel`; `finish_wait` first thing in await_resume.
struct suspension : cancel_hook {
    event_loop* loop_ = nullptr;
    task_base* task_ = nullptr;
    std::coroutine_handle<> handle_;
    bool cancelled_ = false; // the awaited event was called off by a cancellation

    void arm(std::coroutine_handle<> h, bool (*on_cancel)(cancel_hook*, bool) noexcept) {
        loop_ = &get_running_loop();
        task_ = loop_->current_task();
        handle_ = h;
        cancel_ = on_cancel;
        if (task_ != nullptr) {
            task_->set_hook(this);
        }
    }
    /// A cancellation requested while the task ran is delivered by cancelling what it now
    /// waits for, as asyncio's Task.__step cancels the future the coroutine yields: children
    /// of a gather are cancelled, a kernel operation is cancelled in the kernel. If that cannot
    /// be passed on (the awaited thing just completed), it waits for the next suspension.
    void deliver_pending_cancel() noexcept {
        if (task_ != nullptr && task_->has_pending_cancel()) [[unlikely]] {
            deliver_cancel_now();
        }
    }
    // Out of line: every suspension runs the test above, almost never this.
    [[gnu::noinline]] void deliver_cancel_now() noexcept {
        (void)task_->take_pending_cancel();
        if (cancel_(this, false)) {
            requested_ = true;
        } else {
            task_->defer_cancel();
        }
    }
    void disarm() noexcept {
        if (task_ != nullptr) {
            task_->clear_hook(this);
        }
    }
    /// Schedules the suspended coroutine. Ends the hook: a later cancel() goes to the next await.
    void wake() noexcept {
        disarm();
        schedule_resume();
    }
    /// Schedules the suspended coroutine and keeps the hook (see sleep_awaiter::on_fire).
    void schedule_resume() noexcept {
        try {
            loop_->schedule(handle_, task_);
        } catch (...) {
            std::terminate(); // the ready queue could not grow: out of memory
        }
    }
    /// On resumption: ends the hook and throws cancelled_error if the wait was called off.
    void finish_wait() {
        disarm();
        if (cancelled_) [[unlikely]] {
            throw_cancelled();
        }
    }
    /// Out of line: inlined, the throw made every await_resume too big to inline this call.
    [[noreturn, gnu::noinline]] void throw_cancelled() {
        absorb_pending_cancel();
        throw cancelled_error(task_ != nullptr ? task_->cancel_message() : std::string());
    }
    /// Called by an awaiter about to end with cancelled_error because of a cancellation it took:
    /// requests made after it was woken are answered by that same error (asyncio raises
    /// CancelledError once for them). An awaiter that ends normally (the awaited work refused
    /// the cancellation, or finished first) must not call this: those requests stay pending
    /// for the next suspension.
    void absorb_pending_cancel() noexcept {
        if (requested_ && task_ != nullptr) {
            (void)task_->take_pending_cancel();
        }
    }
};

} // namespace eddy::detail
