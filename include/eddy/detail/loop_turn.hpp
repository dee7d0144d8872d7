// eddy — the loop's turn: poll, fire expired timers, run the ready queue (included at the end of
// loop.hpp, not on its own).
#pragma once

#include "eddy/loop.hpp"

#include <cstddef>
#include <cstdint>
#include <optional>

namespace eddy {

template <bool Checked> bool event_loop::turn() {
    if (wake_rearm_) {
        rearm_wake();
    }
    const std::uint64_t user_ops = in_flight();
    if (!ready_.empty()) {
        // Busy: the kernel is polled only every poll_interval turns (tokio's
        // event_interval). A turn that just scheduled more work (a stream's send task, a
        // woken waiter) goes on without a syscall; the operations it queued are submitted
        // by the waiting poll once the ready queue drains, or here at the latest, so I/O is
        // never starved by tasks that keep yielding.
        if (user_ops != 0 && ++busy_turns_ >= poll_interval) {
            busy_turns_ = 0;
            reactor_->poll(0);
        }
    } else if (!timers_.empty()) {
        busy_turns_ = 0;
        if (virtual_) [[unlikely]] {
            advance_virtual_time();
        } else {
            // Compared before subtracting: a deadline near INT64_MIN (time_point::min())
            // minus now would wrap to a wait of centuries.
            const std::int64_t next = timers_.next_deadline();
            const std::int64_t now = now_ns();
            reactor_->poll(next > now ? next - now : 0);
        }
    } else if (user_ops != 0 || external_ != 0 || inbox_->has_handles() || inbox_->has_work()) {
        busy_turns_ = 0;
        reactor_->poll(std::nullopt);
    } else {
        return false;
    }
    if (inbox_->has_work()) {
        take_inbox();
    }
    if (!timers_.empty()) {
        const std::int64_t now = now_ns();
        while (detail::timer_node* t = timers_.pop_expired(now)) {
            t->fire_(t);
        }
    }
    if constexpr (Checked) {
        run_checked(ready_.size());
    } else {
        std::size_t n = ready_.size();
        if (n > 2 * prefetch_distance) [[unlikely]] {
            n = run_prefetching(n);
        }
        for (; n > 0; --n) {
            run_item(ready_.pop());
        }
        // Follow-on: what became ready during the turn (a task woken by an event::set or a
        // queue::put, a task just created and awaited, the awaiter of a task that just
        // finished) runs now, in the same FIFO order the next turn would give it, instead
        // of after the turn boundary (polling the kernel, firing expired timers, taking
        // other threads' posts). Two tasks handing work to each other then cost a queue
        // push and pop per hand-off rather than a whole turn. At most max_follow_on items:
        // the boundary is skipped only as if the loop had been that much faster.
        // (Counted down before the item runs: stop_follow_on() inside it zeroes the count.)
        follow_on_left_ = follow_on_cut_ ? 0 : follow_on_budget_;
        while (follow_on_left_ != 0 && !ready_.empty()) {
            --follow_on_left_;
            run_item(ready_.pop());
        }
    }
    current_ = nullptr;
    follow_on_cut_ = false;
    ready_.rewind_if_empty();
    return true;
}

inline void event_loop::run_item(const detail::ready_item& item) {
    current_ = item.task;
    detail::transfer_depth_ = 0;
    if (item.run != nullptr) {
        item.run(item.ptr);
    } else {
        std::coroutine_handle<>::from_address(item.ptr).resume();
    }
}

inline std::size_t event_loop::run_prefetching(std::size_t n) {
    for (; n > 2 * prefetch_distance; --n) {
        prefetch(ready_.at(2 * prefetch_distance));
        prefetch_links(ready_.at(prefetch_distance));
        run_item(ready_.pop());
    }
    return n;
}

inline void event_loop::prefetch(const detail::ready_item& item) noexcept {
    const auto* p = static_cast<const char*>(item.ptr);
    __builtin_prefetch(p);      // a frame's resume pointer and its promise
    __builtin_prefetch(p + 64); // the rest of a small frame: its awaiter
    __builtin_prefetch(p + 128);
    if (item.task != nullptr) {
        const auto* t = reinterpret_cast<const char*>(item.task);
        __builtin_prefetch(t); // the task state: its cancel hook, its place in tasks_
        __builtin_prefetch(t + 64);
    }
}

inline void event_loop::prefetch_links(const detail::ready_item& item) noexcept {
    if (item.task != nullptr) {
        __builtin_prefetch(item.task->loop_link().prev_);
        __builtin_prefetch(item.task->loop_link().next_);
    }
}

} // namespace eddy
