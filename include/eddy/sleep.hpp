// eddy — sleep, sleep_until and yield: timers kept in user space, no kernel object per sleep.
#pragma once

#include "eddy/detail/timer_heap.hpp"
#include "eddy/loop.hpp"

#include <chrono>
#include <coroutine>
#include <cstdint>

namespace eddy {
namespace detail {

/// `d` in nanoseconds, clamped to the int64 range (durations like hours::max() overflow it); a
/// NaN duration counts as 0 (converting it to an integer would be undefined behaviour).
template <class Rep, class Period>
constexpr std::int64_t saturated_ns(std::chrono::duration<Rep, Period> d) noexcept {
    using limit = std::chrono::duration<long double, std::nano>;
    const long double ns = std::chrono::duration_cast<limit>(d).count();
    if (ns != ns) { // NOLINT(misc-redundant-expression): true only for NaN
        return 0;
    }
    if (ns >= static_cast<long double>(INT64_MAX)) {
        return INT64_MAX;
    }
    if (ns <= static_cast<long double>(INT64_MIN)) {
        return INT64_MIN;
    }
    return static_cast<std::int64_t>(ns);
}

/// The awaiter behind sleep/sleep_until/yield. Its timer node lives in the awaiting frame; the
/// loop's heap only points at it, so a sleep allocates nothing. 80 bytes: the duration waits in
/// the node's deadline until the timer is armed, and the timer node comes first so that `mode_`
/// fills the tail padding of `suspension` (a sleeping task's frame is 16 bytes smaller).
struct [[nodiscard]] sleep_awaiter : timer_node, suspension {
    enum class mode : std::uint8_t { relative, absolute, yield };

    sleep_awaiter(mode m, std::int64_t ns) noexcept : mode_(m) { deadline_ = ns; }

    [[nodiscard]] bool await_ready() const noexcept { return false; }

    bool await_suspend(std::coroutine_handle<> h) {
        arm(h, &on_cancel);
        const std::int64_t ns = deadline_; // the duration, or the deadline when absolute
        if (mode_ == mode::yield || (mode_ == mode::relative && ns <= 0)) {
            // asyncio.sleep(0): go behind everything that is ready now.
            mode_ = mode::yield;
            loop_->schedule(h, task_);
        } else {
            const std::int64_t now = loop_->now_ns();
            // Saturate: sleep(hours::max()) means "until cancelled", not an overflow.
            deadline_ = mode_ == mode::absolute ? ns : ns > INT64_MAX - now ? INT64_MAX : now + ns;
            fire_ = &on_fire;
            try {
                loop_->add_timer(*this);
            } catch (...) {
                disarm();
                throw;
            }
        }
        deliver_pending_cancel();
        return true;
    }

    /// Throws eddy::cancelled_error if the task was cancelled during the sleep.
    void await_resume() { finish_wait(); }

  private:
    // Schedules without ending the hook (wake() would): ending it reads the task's state, a
    // cache miss per timer when a million fire at once; finish_wait ends it on resumption, and
    // on_cancel meanwhile sees the timer fired and declines, as a cleared hook would have.
    static void on_fire(timer_node* t) noexcept {
        static_cast<sleep_awaiter*>(t)->schedule_resume();
    }
    static bool on_cancel(cancel_hook* h, bool abandon) noexcept {
        (void)abandon; // a sleep stops waiting at once anyway
        auto* self = static_cast<sleep_awaiter*>(static_cast<suspension*>(h));
        if (self->mode_ != mode::yield && !self->armed()) {
            return false; // fired: its wake-up is queued; the request waits for the next await
        }
        self->cancelled_ = true;
        if (self->mode_ == mode::yield) {
            self->disarm(); // already in the ready queue: it wakes and throws
        } else if (self->loop_->remove_timer(*self)) {
            self->wake();
        } // else: the timer stays armed and wakes the task (which then throws) when it fires
        return true;
    }

    mode mode_;
};
#if defined(__x86_64__) || defined(__aarch64__)
static_assert(sizeof(sleep_awaiter) == 80, "sleep_awaiter's mode no longer fills a padding");
#endif

} // namespace detail

/// Suspends the calling task for `d` (asyncio.sleep). A zero or negative duration yields: the
/// task goes behind every task that is ready now. Awaiting throws eddy::cancelled_error when
/// the task is cancelled meanwhile, eddy::loop_error with no running loop. Allocates nothing.
template <class Rep, class Period>
[[nodiscard]] detail::sleep_awaiter sleep(std::chrono::duration<Rep, Period> d) noexcept {
    return {detail::sleep_awaiter::mode::relative, detail::saturated_ns(d)};
}

/// Suspends the calling task until the loop clock reaches `when` (a past time yields).
[[nodiscard]] inline detail::sleep_awaiter sleep_until(clock::time_point when) noexcept {
    return {detail::sleep_awaiter::mode::absolute, detail::saturated_ns(when.time_since_epoch())};
}

/// Lets every other ready task run once before the caller continues (asyncio.sleep(0)).
[[nodiscard]] inline detail::sleep_awaiter yield() noexcept {
    return {detail::sleep_awaiter::mode::yield, 0};
}

} // namespace eddy
