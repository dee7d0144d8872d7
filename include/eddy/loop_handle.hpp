// eddy — loop_handle: a thread-safe reference to a loop, for threads that post work to it.
#pragma once

#include "eddy/errors.hpp"
#include "eddy/loop.hpp"

#include <memory>
#include <utility>

namespace eddy {

template <class T> class concurrent_future;

/// A thread-safe reference to a loop, for threads that post work to it (asyncio code passes
/// the loop object to threads; this is the C++ form that cannot dangle). Copyable. While any
/// handle exists, a loop with nothing else to wait for waits for posts instead of reporting a
/// deadlock, so release handles a thread no longer needs.
class loop_handle {
  public:
    /// A handle to the loop running on this thread. Throws eddy::loop_error outside a loop.
    loop_handle();
    /// A handle to `loop`, which must be alive at this call (the handle may outlive it). Does
    /// not throw; callable from any thread.
    explicit loop_handle(event_loop& loop) : box_(loop.inbox()) { box_->retain_handle(); }
    loop_handle(const loop_handle& o) : box_(o.box_) {
        if (box_) {
            box_->retain_handle();
        }
    }
    loop_handle(loop_handle&& o) noexcept = default;
    loop_handle& operator=(loop_handle o) noexcept {
        std::swap(box_, o.box_);
        return *this;
    }
    ~loop_handle() {
        if (box_) {
            box_->release_handle();
        }
    }

    /// Schedules `fn()` on the loop's thread on a later turn, from any thread. Throws
    /// eddy::loop_error when the loop has shut down (or the handle was moved from),
    /// std::bad_alloc.
    template <class F> void call_soon_threadsafe(F&& fn) const {
        if (!box_) {
            throw loop_error("eddy: call_soon_threadsafe through an empty loop_handle");
        }
        detail::post_remote(*box_, std::forward<F>(fn));
    }

  private:
    // Posts a cancel without holding the loop as a handle does (a finished one lying around
    // must not turn the loop's deadlock report into a wait).
    template <class T> friend class concurrent_future;

    std::shared_ptr<detail::inbox> box_;
};

inline loop_handle::loop_handle() : loop_handle(get_running_loop()) {}

} // namespace eddy
