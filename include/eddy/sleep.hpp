// eddy — sleep, sleep_until and yield: timers kept in user space, no kernel object per sleep.
#pragma once

#include "eddy/detail/timer_heap.hpp"
#include "eddy/loop.hpp"

#include <chrono>
#include <coroutine>
#include <cstdint>

namespace eddy {
namespace detail {

/// The awaiter behind sleep/sleep_until/yield. Its timer node lives in the awaiting frame; the
/// loop's heap only points at it, so a sleep allocates nothing.
struct [[nodiscard]] sleep_awaiter : suspension, timer_node {
    enum class mode : std::uint8_t { relative, absolute, yield };

    sleep_awaiter(mode m, std::int64_t ns) noexcept : ns_(ns), mode_(m) {}

    [[nodiscard]] bool await_ready() const noexcept { return false; }

    bool await_suspend(std::coroutine_handle<> h) {
        if (!arm(h, &on_cancel)) {
            return false;
        }
        if (mode_ == mode::yield || (mode_ == mode::relative && ns_ <= 0)) {
            // asyncio.sleep(0): go behind everything that is ready now.
            mode_ = mode::yield;
            loop_->schedule(h, task_);
            return true;
        }
        deadline_ = mode_ == mode::relative ? event_loop::now_ns() + ns_ : ns_;
        fire_ = &on_fire;
        loop_->add_timer(*this);
        return true;
    }

    /// Throws eddy::cancelled_error if the task was cancelled during the sleep.
    void await_resume() const { throw_if_cancelled(); }

  private:
    static void on_fire(timer_node* t) noexcept { static_cast<sleep_awaiter*>(t)->wake(); }
    static bool on_cancel(cancel_hook* h) noexcept {
        auto* self = static_cast<sleep_awaiter*>(static_cast<suspension*>(h));
        self->cancelled_ = true;
        if (self->mode_ == mode::yield) {
            self->disarm(); // already in the ready queue: it wakes and throws
        } else if (self->loop_->remove_timer(*self)) {
            self->wake();
        } // else: the timer stays armed and wakes the task (which then throws) when it fires
        return true;
    }

    std::int64_t ns_;
    mode mode_;
};

} // namespace detail

/// Suspends the calling task for `d` (asyncio.sleep). A zero or negative duration yields: the
/// task goes behind every task that is ready now. Awaiting throws eddy::cancelled_error when
/// the task is cancelled meanwhile, eddy::loop_error with no running loop. Allocates nothing.
template <class Rep, class Period>
[[nodiscard]] detail::sleep_awaiter sleep(std::chrono::duration<Rep, Period> d) noexcept {
    return {detail::sleep_awaiter::mode::relative,
            std::chrono::duration_cast<std::chrono::nanoseconds>(d).count()};
}

/// Suspends the calling task until the loop clock reaches `when` (a past time yields).
[[nodiscard]] inline detail::sleep_awaiter sleep_until(clock::time_point when) noexcept {
    return {detail::sleep_awaiter::mode::absolute,
            std::chrono::duration_cast<std::chrono::nanoseconds>(when.time_since_epoch()).count()};
}

/// Lets every other ready task run once before the caller continues (asyncio.sleep(0)).
[[nodiscard]] inline detail::sleep_awaiter yield() noexcept {
    return {detail::sleep_awaiter::mode::yield, 0};
}

} // namespace eddy
