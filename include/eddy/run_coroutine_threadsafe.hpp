// eddy — run_coroutine_threadsafe: another thread submits a coroutine to a loop and waits for
// it through a concurrent_future (asyncio.run_coroutine_threadsafe).
#pragma once

#include "eddy/create_task.hpp"
#include "eddy/errors.hpp"
#include "eddy/loop_handle.hpp"
#include "eddy/task.hpp"

#include <chrono>
#include <exception>
#include <future>
#include <memory>
#include <type_traits>
#include <utility>

namespace eddy {

template <class T> class concurrent_future;

namespace detail {
template <class T, class W> concurrent_future<T> submit_threadsafe(W work, const loop_handle& loop);

/// What a submitting thread and the loop share for one submitted coroutine. `task_` and
/// `promise_` are touched on the loop's thread only; the submitting thread holds the
/// std::future and the shared_ptr.
template <class T> struct submitted {
    std::promise<T> promise_;
    bool set_ = false;
    task_base* task_ = nullptr; // the running task, while its completer exists (not owned)

    submitted() = default;
    submitted(const submitted&) = delete;
    submitted& operator=(const submitted&) = delete;
};

/// Hands the outcome to the promise: first held by the posted call that makes the task, then
/// the task's done-callback. Exactly one live completer per submission (moved-from ones are
/// empty), so whichever way the submission ends (the call or the callback dropped with the
/// loop, the task made or not), the promise is set once and get() never blocks forever.
/// While it is the task's done-callback, `task_` is valid: the handle it is called with (or
/// the state it waits on) keeps the task's state alive.
template <class T> struct completer {
    std::shared_ptr<submitted<T>> s_;

    explicit completer(std::shared_ptr<submitted<T>> s) noexcept : s_(std::move(s)) {}
    completer(completer&&) noexcept = default;
    completer(const completer&) = delete;
    completer& operator=(const completer&) = delete;
    completer& operator=(completer&&) = delete;
    ~completer() {
        if (s_) {
            s_->task_ = nullptr;
            if (!s_->set_) {
                // Dropped without running (the loop closed first): the submitting thread may be
                // blocked in get(), and the shared state outlives this only through it.
                s_->set_ = true;
                try {
                    s_->promise_.set_exception(std::make_exception_ptr(loop_error(
                        "eddy: the loop shut down before the submitted coroutine finished")));
                } catch (...) { // NOLINT(bugprone-empty-catch): no memory for the error object
                }
            }
        }
    }

    void operator()(task_handle<T>& h) noexcept {
        submitted<T>& s = *s_;
        s.set_ = true;
        try {
            if constexpr (std::is_void_v<T>) {
                h.result();
                s.promise_.set_value();
            } else if constexpr (std::is_reference_v<T>) {
                s.promise_.set_value(h.result());
            } else {
                // Only this handle is left (create_task's was dropped): the value can move.
                s.promise_.set_value(std::move(h.result()));
            }
        } catch (...) {
            s.promise_.set_exception(std::current_exception());
        }
    }
};

} // namespace detail

/// The submitting thread's view of a coroutine run on a loop (asyncio's concurrent.futures.Future
/// from run_coroutine_threadsafe): wait for it, take its result, or cancel it. Move-only;
/// usable from any thread, one thread at a time.
template <class T> class concurrent_future {
  public:
    concurrent_future() noexcept = default;

    /// Blocks until the coroutine has finished, then returns its value or rethrows its
    /// exception: eddy::cancelled_error if it was cancelled, eddy::loop_error if the loop shut
    /// down before it finished. Once only (as std::future::get); valid() is false afterwards.
    /// Calling it on the loop's own thread blocks that loop, which then never finishes the
    /// coroutine: await a task there instead.
    T get() { return f_.get(); }
    /// Blocks until the coroutine has finished.
    void wait() const { f_.wait(); }
    /// Blocks until the coroutine has finished or `d` has passed: std::future_status::ready or
    /// std::future_status::timeout.
    template <class Rep, class Period>
    [[nodiscard]] std::future_status wait_for(std::chrono::duration<Rep, Period> d) const {
        return f_.wait_for(d);
    }
    /// True until get() was called (false for a default-made or moved-from object).
    [[nodiscard]] bool valid() const noexcept { return f_.valid(); }

    /// Requests cancellation of the task on its loop (Task.cancel, from another thread). The
    /// request is posted: the task gets cancelled_error at its current await on a later turn,
    /// and get() then throws eddy::cancelled_error, unless the task finishes first or refuses.
    /// Returns false when nothing was posted: the coroutine has already finished (its outcome
    /// is ready), the loop has shut down, or this object is empty or was consumed by get().
    /// Throws std::bad_alloc.
    bool cancel() {
        if (!s_ || !f_.valid() ||
            f_.wait_for(std::chrono::seconds(0)) == std::future_status::ready) {
            return false;
        }
        try {
            detail::post_remote(*box_, [s = s_] {
                if (s->task_ != nullptr) {
                    s->task_->cancel({});
                }
            });
        } catch (const loop_error&) {
            return false;
        }
        return true;
    }

  private:
    template <class U, class W>
    friend concurrent_future<U> detail::submit_threadsafe(W work, const loop_handle& loop);

    concurrent_future(std::future<T> f, std::shared_ptr<detail::submitted<T>> s,
                      const loop_handle& loop)
        : f_(std::move(f)), s_(std::move(s)), box_(loop.box_) {}

    std::future<T> f_;
    std::shared_ptr<detail::submitted<T>> s_;
    // The loop's inbox, for cancel(). Not a loop_handle: holding one turns the loop's deadlock
    // report into a wait, and a finished future may be kept around long after.
    std::shared_ptr<detail::inbox> box_;
};

namespace detail {
/// Posts `work` (a task<T>, or a callable returning one) to become a task on `loop`'s thread.
template <class T, class W>
concurrent_future<T> submit_threadsafe(W work, const loop_handle& loop) {
    auto s = std::make_shared<submitted<T>>();
    std::future<T> f = s->promise_.get_future();
    loop.call_soon_threadsafe([work = std::move(work), c = completer<T>(s)]() mutable {
        submitted<T>& st = *c.s_;
        try {
            task_handle<T> h = create_task(std::move(work));
            st.task_ = h.state();
            h.add_done_callback(std::move(c));
        } catch (...) {
            st.task_ = nullptr;
            if (!st.set_) {
                st.set_ = true;
                st.promise_.set_exception(std::current_exception());
            }
        }
    });
    return concurrent_future<T>(std::move(f), std::move(s), loop);
}
} // namespace detail

/// Submits a coroutine to the loop behind `loop`, from any thread
/// (asyncio.run_coroutine_threadsafe): `f`, a callable returning task<R> (a capturing lambda),
/// is moved to the loop's thread and called there, and the task it returns runs as a created
/// task (create_task) whose outcome the returned concurrent_future receives; `f` is kept alive
/// in the task's frame for as long as the coroutine runs. The task belongs to the loop as any
/// created task does: dropping the concurrent_future does not stop it. If the loop shuts down
/// before the task finishes, the task is cancelled (get() throws eddy::cancelled_error) or,
/// never made, dropped (get() throws eddy::loop_error). Throws eddy::loop_error when the loop
/// has already shut down, std::bad_alloc.
template <detail::task_factory F>
[[nodiscard]] auto run_coroutine_threadsafe(F f, const loop_handle& loop) {
    using R = typename std::invoke_result_t<F&>::value_type;
    return detail::submit_threadsafe<R>(std::move(f), loop);
}

/// As above, for a callable returning an awaiter rather than a task (`[] { return
/// eddy::sleep(1s); }`, asyncio's `run_coroutine_threadsafe(asyncio.sleep(1), loop)`): called
/// on the loop's thread, and the awaiter it returns is awaited by the task, as create_task(aw)
/// does. Same contract otherwise.
template <class F>
requires std::invocable<F&> &&(!detail::task_factory<F>)&&detail::plain_awaitable<
    std::invoke_result_t<F&>> [[nodiscard]] auto run_coroutine_threadsafe(F f,
                                                                          const loop_handle& loop) {
    using A = std::invoke_result_t<F&>;
    return run_coroutine_threadsafe(
        [fn = std::move(f)]() mutable { return detail::await_in_task<A>(fn()); }, loop);
}

/// Not a task made on this thread: its frame comes from this thread's frame pool and would be
/// destroyed on the loop's (see detail::frame_free). Pass a callable that makes the task on the
/// loop's thread instead: `run_coroutine_threadsafe([=] { return fetch(url); }, h)`.
template <class T>
concurrent_future<T> run_coroutine_threadsafe(task<T> t, const loop_handle& loop) = delete;

} // namespace eddy
