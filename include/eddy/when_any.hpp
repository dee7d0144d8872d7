// eddy — when_any: the first of several awaitables to finish wins; the others are cancelled.
#pragma once

#include "eddy/create_task.hpp"
#include "eddy/detail/as_handle.hpp"
#include "eddy/gather.hpp"
#include "eddy/loop.hpp"
#include "eddy/task.hpp"
#include "eddy/wait.hpp"

#include <cstddef>
#include <ranges>
#include <stdexcept>
#include <string>
#include <tuple>
#include <utility>
#include <variant>
#include <vector>

namespace eddy {

/// What the range form of `when_any` yields: which awaitable finished first, and its value.
template <class T> struct when_any_result {
    /// The winner's position in the range.
    std::size_t index;
    /// The winner's value (void as std::monostate, T& as std::reference_wrapper).
    detail::gathered_t<T> value;
};

namespace detail {

/// Waits for the first state to finish, cancels the others and waits until they have finished
/// too, then yields the winner's index. The states are kept alive by the caller's handles.
/// If the awaiting task is cancelled, every state is cancelled, and cancelled_error is thrown
/// once they have all finished.
inline task<std::size_t> when_any_core(std::vector<future_base*> states) {
    std::size_t winner = wait_core::none;
    bool cancelled = false;
    try {
        winner = co_await wait_states(states, return_when::first_completed, std::nullopt);
    } catch (const cancelled_error&) {
        cancelled = true;
    }
    task_base* self = get_running_loop().current_task();
    for (std::size_t i = 0; i < states.size(); ++i) {
        if (i != winner) {
            (void)states[i]->cancel(cancelled && self != nullptr ? self->cancel_message()
                                                                 : std::string());
        }
    }
    // No loser outlives the call: wait for them, even through further cancellations.
    while (true) {
        try {
            (void)co_await wait_states(states, return_when::all_completed, std::nullopt);
            break;
        } catch (const cancelled_error&) {
            cancelled = true;
        }
    }
    if (cancelled) {
        throw cancelled_error(self != nullptr ? self->cancel_message() : std::string());
    }
    co_return winner;
}

template <class H> std::vector<future_base*> states_of_tuple(H& hs) {
    std::vector<future_base*> out;
    std::apply([&](auto&... h) { (out.push_back(h.state()), ...); }, hs);
    return out;
}

template <class T, class H> task<when_any_result<T>> when_any_range(std::vector<H> hs) {
    const std::size_t w = co_await when_any_core(states_of(hs));
    hs[w].state()->rethrow_if_failed();
    co_return when_any_result<T>{w, take_value<T>(hs[w])};
}

template <std::size_t I, class V, class Tuple> V pick_winner(Tuple& hs, std::size_t w) {
    if constexpr (I + 1 < std::tuple_size_v<Tuple>) {
        if (I != w) {
            return pick_winner<I + 1, V>(hs, w);
        }
    }
    auto& h = std::get<I>(hs);
    h.state()->rethrow_if_failed();
    using T = typename std::remove_cvref_t<decltype(h)>::value_type;
    return V(std::in_place_index<I>, take_value<T>(h));
}

template <class... H>
task<std::variant<gathered_t<typename H::value_type>...>> when_any_tuple(std::tuple<H...> hs) {
    const std::size_t w = co_await when_any_core(states_of_tuple(hs));
    co_return pick_winner<0, std::variant<gathered_t<typename H::value_type>...>>(hs, w);
}

/// What when_any races: what gather accepts except plain awaiters. Its result names only the
/// winner, so a losing `q.get()`, `sem.acquire()` or `q.put(x)` that had already taken its
/// item or permit (both ready at once, or granted in the same turn) would lose it unseen.
template <class A>
concept raceable = gatherable<A> && !plain_awaitable<std::remove_cvref_t<A>>;

} // namespace detail

/// Runs the awaitables concurrently and yields the result of the first to finish, after
/// cancelling the others and waiting until they have finished (no loser outlives the call).
/// Accepts what gather accepts (task<T> rvalues are scheduled at once). Yields a
/// std::variant whose index() is the winner's position (void results as std::monostate).
/// Throws the winner's exception if it failed (cancelled_error if it was cancelled); a loser's
/// late value is dropped and its failure, if nobody holds its handle, reported on stderr.
/// Takes tasks, task handles and futures, not plain awaiters (see detail::raceable): for one
/// awaiter and a deadline use wait_for(q.get(), d); to race awaiters, create a task for each,
/// keep the handles, and look at every handle that is done afterwards.
/// cancelled_error if the awaiting task is cancelled (every awaitable is cancelled and waited
/// for first).
template <class... A>
requires(sizeof...(A) > 0 && (detail::raceable<A> && ...)) [[nodiscard]] auto when_any(A&&... aws) {
    return detail::when_any_tuple(std::tuple<detail::handle_of<A>...>{
        detail::as_handle<std::remove_cvref_t<A>>::make(std::forward<A>(aws))...});
}

/// when_any over a range of task<T>, task_handle<T> or future<T>: yields the winner's index in
/// the range and its value. Same contract as above; std::invalid_argument for an empty range.
template <std::ranges::input_range R>
requires detail::raceable<std::ranges::range_value_t<R>>
[[nodiscard]] auto when_any(R&& range) {
    using A = std::ranges::range_value_t<R>;
    using H = detail::handle_of<A>;
    std::vector<H> hs = detail::handles_of(std::forward<R>(range));
    if (hs.empty()) {
        throw std::invalid_argument("eddy::when_any: empty range");
    }
    return detail::when_any_range<typename H::value_type>(std::move(hs));
}

} // namespace eddy
