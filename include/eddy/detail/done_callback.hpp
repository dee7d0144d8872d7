// eddy — done-callbacks of a shared state (a future's, a task's): scheduled with call_soon when
// the state completes, as asyncio's Future.add_done_callback.
#pragma once

#include "eddy/callbacks.hpp"
#include "eddy/detail/context.hpp"
#include "eddy/detail/frame_allocator.hpp"
#include "eddy/detail/future_base.hpp"
#include "eddy/loop.hpp"

#include <cstdint>
#include <cstdio>
#include <utility>

namespace eddy::detail {

/// A done-callback parked on `State`. It holds no reference (that would keep a future that never
/// completes alive forever); the state drops it if it dies pending. When the state completes,
/// it schedules `fn(Handle)` on the loop it was registered on (asyncio runs done-callbacks with
/// call_soon, never inline), the handle sharing the state. `Handle(adopt_ref, State*)` makes a
/// handle taking over one reference.
template <class Handle, class State, class F> struct done_callback final : waiter, pooled {
    done_callback(event_loop& loop, State* state, F f, context_data* context)
        : loop_(&loop), serial_(loop.serial()), state_(state), context_(context),
          fn_(std::move(f)) {
        wake_ = [](waiter* w) noexcept {
            auto* self = static_cast<done_callback*>(w);
            // Completed after its loop closed (or from another thread's loop): asyncio would
            // raise "Event loop is closed"; here nothing can run it, so it is dropped. Between
            // two runs of an eddy::runner its loop is open but not running: queued there, it
            // runs at the next run, as asyncio's Runner does.
            event_loop* home = home_loop();
            if (home == self->loop_ && home->serial() == self->serial_) {
                try {
                    self->state_->add_ref();
                    post_callback(
                        *self->loop_,
                        [h = Handle(adopt_ref, self->state_), fn = std::move(self->fn_)]() mutable {
                            fn(h);
                        },
                        std::exchange(self->context_, nullptr));
                } catch (...) { // NOLINT(bugprone-empty-catch): out of memory; nothing to do
                }
            } else {
                std::fprintf(stderr, "eddy: a done-callback was dropped: its event loop is no "
                                     "longer running\n");
            }
            delete self;
        };
        drop_ = [](waiter* w) noexcept { delete static_cast<done_callback*>(w); };
    }
    done_callback(const done_callback&) = delete;
    done_callback& operator=(const done_callback&) = delete;
    ~done_callback() { context_release(context_); }

    event_loop* loop_;
    std::uint64_t serial_;
    State* state_;
    context_data* context_; // the one current at add_done_callback (one reference)
    F fn_;
};

/// Calls `fn(Handle&)` through call_soon on the running loop once `state` is done (at once,
/// through call_soon, if it is done already), in a copy of the context current now. Between two
/// runs of an eddy::runner, the runner's loop takes the callback; it runs during a later run.
/// Throws eddy::loop_error with no loop running or open on this thread, std::bad_alloc.
template <class Handle, class State, class F> void add_done_callback(State* state, F fn) {
    event_loop* home = home_loop();
    if (home == nullptr) {
        throw loop_error("eddy: add_done_callback() with no event loop running or open on this "
                         "thread (call it inside eddy::run, or between an eddy::runner's runs)");
    }
    event_loop& loop = *home;
    if (state->done()) {
        state->add_ref();
        post_callback(
            loop, [h = Handle(adopt_ref, state), fn = std::move(fn)]() mutable { fn(h); },
            context_share(current_context_slot()));
        return;
    }
    state->add_waiter(*new done_callback<Handle, State, F>(loop, state, std::move(fn),
                                                           context_share(current_context_slot())));
}

} // namespace eddy::detail
