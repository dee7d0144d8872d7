// eddy — shield: await work that a cancellation of the awaiting task must not stop.
#pragma once

#include "eddy/create_task.hpp"
#include "eddy/detail/state_awaiter.hpp"
#include "eddy/future.hpp"
#include "eddy/task.hpp"

#include <utility>

namespace eddy {

/// Runs `t` as a task of its own (create_task) and awaits it, shielded (asyncio.shield): if
/// the awaiting task is cancelled, the await throws cancelled_error at once while the inner
/// task goes on running to its end on the loop. Yields T by value.
///
/// Ownership: the loop keeps the inner task running; nobody holds a handle to it after a
/// cancelled await, so a failure it has later is reported on stderr ("never retrieved"), where
/// asyncio would drop it silently. To keep the result, shield a task_handle instead. At the end
/// of `eddy::run` the inner task is cancelled like every other pending task. Throws what the
/// task throws, cancelled_error, eddy::loop_error outside a running loop.
template <class T> [[nodiscard]] auto shield(task<T> t) {
    task_handle<T> h = create_task(std::move(t), task_options{}, code_location());
    // Only the awaiter keeps a reference once `h` is gone: the value can be moved out.
    return detail::state_awaiter<T, true, true>{h.state(), &h.state()->slot(), 1};
}

/// Runs any other awaitable, passed as an rvalue (`gather(a(), b())`, `q.get()`), in a task
/// of its own and awaits it shielded, as the task<T> overload does (asyncio.shield wraps a
/// coroutine in a Task). After a cancelled await the inner task goes on, and what it takes (a
/// queue's item, a lock) is taken for nobody: shield what you can afford to lose, or shield a
/// task_handle you keep. The primitive it waits on must outlive that task. Same throws.
template <detail::awaitable_rvalue A> [[nodiscard]] auto shield(A&& a) {
    return shield(detail::await_in_task<std::remove_cvref_t<A>>(std::forward<A>(a)));
}

/// Awaits the task behind `h`, shielded: a cancellation of the awaiting task does not cancel
/// it. Yields T by value (moved out when `h` was the last handle, else copied; a move-only T is
/// moved out). Throws eddy::invalid_state_error for an empty `h`.
template <class T> [[nodiscard]] auto shield(task_handle<T> h) {
    // The awaiter takes h's reference: h, a by-value parameter, lives until the end of the
    // caller's full expression (the Itanium ABI), so that co_await shield(std::move(h)) would
    // otherwise see two references and copy instead of moving.
    if (!h.valid()) {
        throw invalid_state_error("eddy::shield: an empty task_handle");
    }
    detail::task_state<T>* s = h.state();
    s->add_ref();
    task_handle<T> gone = std::move(h);
    return detail::state_awaiter<T, true, true>{detail::adopt_ref, s, &s->slot()};
}

/// Awaits `f`, shielded: a cancellation of the awaiting task does not cancel the future.
/// Yields T& into the future's state (valid while `f` or another copy lives).
template <class T> [[nodiscard]] auto shield(const future<T>& f) {
    return detail::state_awaiter<T, false, true>{f.state(), &f.state()->value_};
}
/// The same for a future given up (a temporary, std::move): yields T by value, as awaiting the
/// future as an rvalue does, since no copy is left for a reference to point into.
template <class T> [[nodiscard]] auto shield(future<T>&& f) {
    detail::future_state<T>* s = f.state();
    s->add_ref();
    future<T> gone = std::move(f); // drops f's reference when it goes
    return detail::state_awaiter<T, true, true>{detail::adopt_ref, s, &s->value_};
}

} // namespace eddy
