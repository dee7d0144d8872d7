// eddy — what combinators that run "a body" accept: an awaitable, or a callable returning a task.
#pragma once

#include "eddy/concepts.hpp"
#include "eddy/task.hpp"

#include <concepts>
#include <type_traits>
#include <utility>

namespace eddy::detail {

template <class T> struct is_task_type : std::false_type {};
template <class T> struct is_task_type<task<T>> : std::true_type {};

/// A callable that returns a task (typically a lambda coroutine). Combinators keep it alive in
/// their own frame while the task it returns runs, so its captures stay valid.
template <class F>
concept task_factory = std::invocable<F&> && is_task_type<std::invoke_result_t<F&>>::value;

/// An awaitable or a task factory.
template <class A>
concept body = task_factory<A> || awaitable<A>;

/// An awaitable whose work already runs before it is awaited (a gather: its children are
/// tasks), marked by a `started_work` member: dropping it unawaited would leave that work
/// running, so wait_for(..., 0) awaits it under an expired deadline instead.
template <class A>
concept started_work = requires {
    A::started_work;
};

template <class A> struct body_result { using type = await_result_t<A>; };
template <task_factory F> struct body_result<F> {
    using type = typename std::invoke_result_t<F&>::value_type;
};
/// What awaiting the body yields: the task's T for a factory, else await_result_t of the rvalue.
template <class A> using body_result_t = typename body_result<A>::type;

/// What to `co_await` to run the body `a` (held by the calling coroutine's frame): the task a
/// factory returns, else the awaitable itself as an rvalue (so a task's value is moved out).
template <class A> decltype(auto) start_body(A& a) {
    if constexpr (task_factory<A>) {
        return a();
    } else {
        return std::move(a);
    }
}

} // namespace eddy::detail
